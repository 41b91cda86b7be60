"""The client against the documented contract where today's server allows more than it
promises: ``/api/execute`` answering ``{"status"}`` alone unless asked ``?results=true``, and
``/api/scan`` answering shorter pages than asked. A stub server on a free port plays that part;
the ``status`` string parser is checked on the documented examples and on hostile answers."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qs, urlsplit

import harness  # noqa: F401  (puts the package on the path)

from wind_kvstore import BadRequest, ConnectionFailed, ServerError, WindKVStore
from wind_kvstore._codec import split_status

SESSION = "0763fa8a-b5be-4ef3-af52-74915a05732b"
#: A script, and the status the server answers for it (each piece echoed as written).
SCRIPT = 'PUT "color":"blue"; GET WHERE KEY="color"; IDENTIFIER SET "db2";'
STATUS = (
    '"PUT "color":"blue": Inserted 1 key-value pairs;" '
    '" GET WHERE KEY="color": blue;" '
    '" IDENTIFIER SET "db2": Identifier set to \'db2\';"'
)
RESULTS = [
    {"count": 1, "kind": "inserted", "message": "Inserted 1 key-value pairs"},
    {"key": "color", "kind": "value", "value": "blue"},
    {"identifier": "db2", "kind": "identifier_set", "message": "Identifier set to 'db2'"},
]
#: Pairs the stub's /api/scan answers at most per page, whatever the client asks.
PAGE_CAP = 2
STORE = {f"k{i}": f"v{i}" for i in range(7)}


class Stub(BaseHTTPRequestHandler):
    """Answers as a server that follows docs/SERVER.md to the letter, no more."""

    protocol_version = "HTTP/1.1"
    seen: List[Tuple[str, str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, body: Dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Session-ID", SESSION)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        url = urlsplit(self.path)
        Stub.seen.append((url.path, url.query))
        if url.path == "/api/open":
            self.answer({"status": "Database opened"})
        elif url.path == "/api/execute" and self.headers.get("X-Session-ID") == SESSION:
            # A script starting "OLD" plays a server that predates ?results=true.
            if parse_qs(url.query).get("results") == ["true"] and not body.startswith("OLD"):
                self.answer({"status": STATUS, "results": RESULTS})
            else:
                self.answer({"status": STATUS})
        else:
            self.answer({"error": "bad_request", "message": "no", "status": "Error: no"}, 400)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        Stub.seen.append((url.path, url.query))
        if url.path == "/api/close":
            self.answer({"status": "Database closed"})
        elif url.path == "/api/scan":
            query = parse_qs(url.query)
            start = query.get("start", [""])[0]
            keys = [k for k in sorted(STORE) if k >= start][: min(PAGE_CAP, int(query["limit"][0]))]
            rest = [k for k in sorted(STORE) if k >= start][len(keys) :]
            self.answer(
                {
                    "count": len(keys),
                    "next": rest[0] if rest else None,
                    "pairs": [{"key": k, "value": STORE[k]} for k in keys],
                }
            )
        else:
            self.answer(
                {"error": "not_found", "message": "no such route", "status": "Error: no such route"}, 404
            )


class AgainstTheContract(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
        cls.httpd.daemon_threads = True
        thread = threading.Thread(target=cls.httpd.serve_forever, daemon=True)
        thread.start()
        cls.addClassCleanup(thread.join)
        cls.addClassCleanup(cls.httpd.server_close)
        cls.addClassCleanup(cls.httpd.shutdown)

    def setUp(self) -> None:
        Stub.seen.clear()
        self.kv = WindKVStore(port=self.httpd.server_address[1], kv_path="data.db")
        self.addCleanup(self.kv.close)

    def test_execute_and_state_execute_read_the_status_alone(self) -> None:
        self.assertEqual(
            json.loads(self.kv.execute(SCRIPT)),
            {
                "cmd1": {"command": 'PUT "color":"blue"', "message": "Inserted 1 key-value pairs"},
                "cmd2": {"command": 'GET WHERE KEY="color"', "message": "blue"},
                "cmd3": {"command": 'IDENTIFIER SET "db2"', "message": "Identifier set to 'db2'"},
            },
        )
        self.assertEqual(self.kv.state_execute(SCRIPT), [True, True, True])
        self.assertEqual([q for p, q in Stub.seen if p == "/api/execute"], ["", ""], "no results asked for")

    def test_execute_results_asks_for_them(self) -> None:
        self.assertEqual(self.kv.execute_results("anything"), RESULTS)
        self.assertEqual([q for p, q in Stub.seen if p == "/api/execute"], ["results=true"])

    def test_execute_results_from_a_server_without_them(self) -> None:
        with self.assertRaises(ServerError) as caught:
            self.kv.execute_results("OLD server")
        self.assertIn("results", str(caught.exception))

    def test_scan_follows_next_through_capped_pages(self) -> None:
        self.assertEqual(dict(self.kv.scan()), STORE)
        self.assertEqual(len([p for p, _ in Stub.seen if p == "/api/scan"]), 4, "7 pairs in pages of 2")
        self.assertEqual([k for k, _ in self.kv.scan(limit=3)], ["k0", "k1", "k2"])
        self.assertEqual([k for k, _ in self.kv.scan(start="k5", page_size=10)], ["k5", "k6"])

    def test_errors_of_the_stub(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            self.kv.put("k", "v")
        self.assertEqual(
            (caught.exception.status, caught.exception.code, caught.exception.message),
            (400, "bad_request", "no"),
        )


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make a certificate")
class OverTls(unittest.TestCase):
    """``use_https``: the stub behind TLS, with a certificate made for the test."""

    @classmethod
    def setUpClass(cls) -> None:
        folder = tempfile.mkdtemp(prefix="wk-python-tls-")
        cls.addClassCleanup(shutil.rmtree, folder, ignore_errors=True)
        cls.cert = os.path.join(folder, "cert.pem")
        key = os.path.join(folder, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
            + ["-nodes", "-keyout", key, "-out", cls.cert, "-days", "1", "-subj", "/CN=127.0.0.1"]
            + ["-addext", "subjectAltName=IP:127.0.0.1"],
            check=True,
            capture_output=True,
        )
        cls.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
        cls.httpd.daemon_threads = True
        server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_side.load_cert_chain(cls.cert, key)
        cls.httpd.socket = server_side.wrap_socket(cls.httpd.socket, server_side=True)
        thread = threading.Thread(target=cls.httpd.serve_forever, daemon=True)
        thread.start()
        cls.addClassCleanup(thread.join)
        cls.addClassCleanup(cls.httpd.server_close)
        cls.addClassCleanup(cls.httpd.shutdown)

    def test_https_with_a_trusted_certificate(self) -> None:
        trusted = ssl.create_default_context(cafile=self.cert)
        with WindKVStore(
            "127.0.0.1", self.httpd.server_address[1], "data.db", True, ssl_context=trusted
        ) as kv:
            self.assertEqual(kv.session_id, SESSION)
            self.assertEqual(kv.state_execute(SCRIPT), [True, True, True])

    def test_https_checks_the_certificate(self) -> None:
        with self.assertRaises(ConnectionFailed) as caught:
            WindKVStore("127.0.0.1", self.httpd.server_address[1], "data.db", use_https=True)
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(caught.exception))


class StatusString(unittest.TestCase):
    def test_the_servers_own_answers(self) -> None:
        self.assertEqual(
            split_status(STATUS, SCRIPT),
            [
                ('PUT "color":"blue"', "Inserted 1 key-value pairs"),
                ('GET WHERE KEY="color"', "blue"),
                ('IDENTIFIER SET "db2"', "Identifier set to 'db2'"),
            ],
        )
        # tests/server/original.rs: every piece as written, the whitespace after the last `;`
        # included (a piece of whitespace alone is left out of the answer).
        script = '\n    PUT "color":"blue";    IDENTIFIER SET "x";\n    '
        status = (
            '"\n    PUT "color":"blue": Inserted 1 key-value pairs;" '
            '"    IDENTIFIER SET "x": Identifier set to \'x\';" "\n    : Error: Unknown command;"'
        )
        self.assertEqual(
            split_status(status, script),
            [('PUT "color":"blue"', "Inserted 1 key-value pairs"), ('IDENTIFIER SET "x"', "Identifier set to 'x'")],
        )
        script = 'PUT "a":"1"; GET WHERE KEY="a"; GET WHERE KEY "a"; FROB;GET WHERE KEY=*;'
        status = (
            '"PUT "a":"1": Inserted 1 key-value pairs;" " GET WHERE KEY="a": 1;" '
            '" GET WHERE KEY "a": Error: Unknown command;" " FROB: Error: Unknown command;" '
            '"GET WHERE KEY=*: Found 1 key-value pairs:\n"a": "1";"'
        )
        self.assertEqual(
            split_status(status, script),
            [
                ('PUT "a":"1"', "Inserted 1 key-value pairs"),
                ('GET WHERE KEY="a"', "1"),
                ('GET WHERE KEY "a"', "Error: Unknown command"),
                ("FROB", "Error: Unknown command"),
                ("GET WHERE KEY=*", 'Found 1 key-value pairs:\n"a": "1"'),
            ],
        )
        self.assertEqual(split_status("", ""), [])

    def test_answers_and_keys_that_look_like_separators(self) -> None:
        # A `;` inside a string does not cut the script, and neither does one in a comment.
        script = 'PUT "a: b;\\" \\"c":"1"; -- a comment; still one\nCOUNT;'
        self.assertEqual(
            split_status('"PUT "a: b;\\" \\"c":"1": Inserted 1 key-value pairs;" " -- a comment; still one\nCOUNT: 1;"', script),
            [('PUT "a: b;\\" \\"c":"1"', "Inserted 1 key-value pairs"), ("-- a comment; still one\nCOUNT", "1")],
        )
        # A value holding the separator stays in its answer: the next piece's own text decides.
        self.assertEqual(
            split_status('"GET WHERE KEY="k": x;" "y: z;" " COUNT: 1;"', 'GET WHERE KEY="k"; COUNT;'),
            [('GET WHERE KEY="k"', 'x;" "y: z'), ("COUNT", "1")],
        )
        self.assertEqual(split_status('"GET WHERE KEY="k": ;"', 'GET WHERE KEY="k"'), [('GET WHERE KEY="k"', "")])

    def test_what_is_not_a_status_string(self) -> None:
        for bad in ["Database opened", '"nonsense: x;"', '"PUT "a":"1": x']:
            with self.assertRaises(ServerError, msg=bad):
                split_status(bad, 'PUT "a":"1";')


if __name__ == "__main__":
    unittest.main()
