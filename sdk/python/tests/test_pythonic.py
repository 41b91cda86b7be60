"""The Pythonic API against a real server: the mapping protocol, bytes and text, batches,
scans, statistics, typed results and errors."""

from __future__ import annotations

import os
import unittest

from harness import ServerTestCase

from wind_kvstore import BadRequest, NotFound, ServerError, WindKVError


class Mapping(ServerTestCase):
    def test_items_set_get_delete_and_contain(self) -> None:
        kv = self.client()
        kv["name"] = "Alice"
        self.assertEqual(kv["name"], "Alice")
        self.assertIn("name", kv)
        self.assertNotIn("nobody", kv)
        self.assertNotIn(42, kv, "only str and bytes can be keys")
        kv["name"] = "Bob"
        self.assertEqual(kv["name"], "Bob", "a second put replaces the value")
        self.assertEqual(kv.get("name"), "Bob")
        self.assertIsNone(kv.get("nobody"))
        self.assertEqual(kv.get("nobody", "fallback"), "fallback")

        with self.assertRaises(NotFound) as caught:
            kv["nobody"]
        self.assertIsInstance(caught.exception, KeyError)
        self.assertEqual(caught.exception.key, "nobody")

        self.assertIs(kv.delete("name"), True)
        self.assertIs(kv.delete("name"), False, "the server's X-Key-Existed header")
        kv["name"] = "Carol"
        del kv["name"]
        self.assertNotIn("name", kv)
        with self.assertRaises(KeyError):
            del kv["name"]

    def test_empty_values_and_keys_that_need_quoting_in_a_url(self) -> None:
        kv = self.client()
        keys = [
            "a b",
            "a+b",
            "a&b=c",
            "100%",
            "x/y?z#w",
            " ",
            "\u00e9t\u00e9",
            "\u952e",
            "\U0001f511",
            "tab\there",
        ]
        for i, key in enumerate(keys):
            kv[key] = f"value {i} \u00fc\U0001f600"
        kv["empty"] = ""
        for i, key in enumerate(keys):
            self.assertEqual(kv[key], f"value {i} \u00fc\U0001f600", key)
        self.assertEqual(kv["empty"], "", "an empty value is a value, not an absent key")
        self.assertIn("empty", kv)
        self.assertEqual(kv.get_bytes("\u952e"), "value 7 \u00fc\U0001f600".encode())
        self.assertEqual(sorted(kv), sorted(keys + ["empty"], key=lambda k: k.encode()))

    def test_binary_keys_and_values_round_trip(self) -> None:
        kv = self.client()
        every_byte = bytes(range(256))
        kv[b"\x00\xff"] = every_byte
        kv["text key"] = b"\xfe\xfd"
        kv[b"plain"] = b"looks like text"
        self.assertEqual(kv[b"\x00\xff"], every_byte)
        self.assertEqual(kv["text key"], b"\xfe\xfd", "not UTF-8: bytes even for a str key")
        self.assertEqual(kv[b"plain"], b"looks like text", "bytes in, bytes out")
        self.assertEqual(kv["plain"], "looks like text", "the same bytes, asked with a str key")
        self.assertEqual(kv.get_bytes("plain"), b"looks like text")
        self.assertEqual(kv.get_value("text key"), b"\xfe\xfd")
        self.assertIn(b"\x00\xff", kv)
        self.assertIn(bytearray(b"\x00\xff"), kv)
        self.assertIs(kv.delete(memoryview(b"\x00\xff")), True)
        self.assertNotIn(b"\x00\xff", kv)
        with self.assertRaises(TypeError):
            kv[1] = "x"  # type: ignore[index]
        with self.assertRaises(TypeError):
            kv["x"] = 1  # type: ignore[assignment]

    def test_a_five_megabyte_value(self) -> None:
        kv = self.client()
        value = os.urandom(5 * 1024 * 1024)
        kv["big"] = value
        self.assertEqual(kv["big"], value)
        text = "\u00e9" * (5 * 1024 * 1024 // 2)
        kv["big text"] = text
        self.assertEqual(kv["big text"], text)
        self.assertGreater(kv.stats()["overflow_pages"], 2000, "the values live in overflow pages")

    def test_put_many_is_one_atomic_batch(self) -> None:
        kv = self.client()
        self.assertEqual(kv.put_many({"a": "1", b"\x01": b"\x02", "c": ""}), 3)
        self.assertEqual(kv.put_many([("d", "4"), ("e", b"5")]), 2)
        self.assertEqual(kv.put_many({}), 0)
        self.assertEqual((kv["a"], kv[b"\x01"], kv["c"], kv["d"], kv["e"]), ("1", b"\x02", "", "4", "5"))

        too_long_key = "k" * 100_000
        with self.assertRaises(BadRequest) as caught:
            kv.put_many([("f", "6"), (too_long_key, "x"), ("g", "7")])
        self.assertEqual((caught.exception.status, caught.exception.code), (400, "too_large"))
        self.assertIn("item 1", caught.exception.message)
        self.assertNotIn("f", kv, "nothing of a refused batch is written")
        self.assertNotIn("g", kv)
        self.assertEqual(len(kv), 5)

    def test_scan_follows_the_continuation(self) -> None:
        kv = self.client()
        kv.put_many({f"user:{i:03}": f"name {i}" for i in range(25)})
        kv.put_many({"other": "x", "zzz": "last"})

        everything = list(kv.scan(page_size=4))
        self.assertEqual(len(everything), 27)
        self.assertEqual([k for k, _ in everything], sorted(k for k, _ in everything))
        self.assertEqual(
            dict(kv.scan(prefix="user:", page_size=3)), {f"user:{i:03}": f"name {i}" for i in range(25)}
        )
        self.assertEqual(
            [k for k, _ in kv.scan(prefix="user:", start="user:020", page_size=2)],
            [f"user:{i:03}" for i in range(20, 25)],
        )
        self.assertEqual(
            [k for k, _ in kv.scan(prefix="user:", limit=7, page_size=3)], [f"user:{i:03}" for i in range(7)]
        )
        self.assertEqual(list(kv.scan(limit=0)), [])
        self.assertEqual(list(kv.scan(prefix="nothing")), [])
        self.assertEqual(list(kv.scan(start="zzz")), [("zzz", "last")])
        self.assertEqual(list(kv), [k for k, _ in everything])
        with self.assertRaises(ValueError):
            list(kv.scan(page_size=0))

    def test_scan_over_binary_keys(self) -> None:
        kv = self.client()
        kv.put_many({b"\xff\x00" + bytes([i]): bytes([i, 0xFE]) for i in range(10)})
        kv.put_many({b"\xfe": "before", "text": "after"})
        pairs = list(kv.scan(prefix=b"\xff\x00", page_size=3))
        self.assertEqual(pairs, [(b"\xff\x00" + bytes([i]), bytes([i, 0xFE])) for i in range(10)])
        self.assertEqual(list(kv.scan(start=b"\xff\x00\x08")), pairs[8:])
        self.assertEqual(list(kv.scan(prefix="text", binary=True)), [(b"text", b"after")])
        self.assertEqual(list(kv.scan(limit=2)), [("text", "after"), (b"\xfe", "before")])

    def test_len_stats_and_truth(self) -> None:
        kv = self.client()
        self.assertEqual(len(kv), 0)
        self.assertTrue(kv, "a client is true even when its store is empty")
        kv.put_many({str(i): str(i) for i in range(12)})
        self.assertEqual(len(kv), 12)
        stats = kv.stats()
        self.assertEqual(stats["key_count"], 12)
        self.assertEqual(stats["path"], self.store_name())
        self.assertGreater(stats["file_bytes"], 0)

    def test_execute_results_are_typed(self) -> None:
        kv = self.client()
        results = kv.execute_results(
            'PUT "color":"blue", "bin":x\'00ff\'; GET WHERE KEY="color"; GET WHERE KEY="bin"; '
            'GET WHERE KEY="none"; GET WHERE KEY "x"; COUNT; IDENTIFIER SET "typed";'
        )
        self.assertEqual(
            [r["kind"] for r in results],
            ["inserted", "value", "value", "not_found", "error", "count", "identifier_set"],
        )
        self.assertEqual(results[0]["count"], 2)
        self.assertEqual(results[1]["value"], "blue")
        self.assertEqual(results[2]["value"], b"\x00\xff", "{'base64': ...} becomes bytes")
        self.assertEqual(results[4]["line"], 1)
        self.assertEqual(results[5]["count"], 2)
        self.assertEqual(kv.get_kv_id(), "typed")
        self.assertEqual(kv[b"bin"], b"\x00\xff")

    def test_errors_carry_the_servers_code(self) -> None:
        kv = self.client()
        with self.assertRaises(BadRequest) as caught:
            kv.set_kv_id("x" * 65)
        error = caught.exception
        self.assertEqual((error.status, error.code), (400, "too_large"))
        self.assertIsInstance(error, ValueError)
        self.assertIsInstance(error, WindKVError)
        self.assertIn("too_large", str(error))
        with self.assertRaises(BadRequest) as caught:
            kv.open("../outside.db")
        self.assertEqual(caught.exception.code, "bad_path")
        # A refused open leaves no session behind: the old one was ended first.
        self.assertEqual(kv.session_id, "")
        self.assertEqual(self.server.health()["sessions"], 0)

    def test_one_connection_serves_every_call(self) -> None:
        server = self.start_server()
        kv = self.client(server=server)
        kv["a"] = "1"
        kv.put_many({"b": b"\xff"})
        self.assertEqual((kv["a"], kv.get("b"), len(kv), [k for k in kv]), ("1", b"\xff", 2, ["a", "b"]))
        kv.execute("COUNT;")
        # The access log names each request's client address (`client=ADDR:PORT`): one address,
        # one connection.
        lines = [line for line in server.log().splitlines() if 'route="/api/' in line]
        clients = {line.split("client=")[1].split()[0] for line in lines}
        self.assertEqual(len(lines), 8, "\n".join(lines))
        self.assertEqual(len(clients), 1, clients)

    def test_a_route_the_server_lacks_is_a_server_error(self) -> None:
        kv = self.client()
        with self.assertRaises(ServerError) as caught:
            kv._request("GET", "/api/no-such-route")
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))
        self.assertNotIsInstance(caught.exception, KeyError, "not to be taken for an absent key")


if __name__ == "__main__":
    unittest.main()
