"""Sessions and connections against real servers: eviction and reopening, a restart in the
middle of a session, bearer tokens, a store locked by another process, a full server,
timeouts and an unreachable server."""

from __future__ import annotations

import socket
import time
import unittest

from harness import ServerTestCase

from wind_kvstore import (
    ConnectionFailed,
    Locked,
    ServerError,
    SessionExpired,
    Timeout,
    Unauthorized,
    WindKVStore,
)

#: The shortest idle period the server accepts; it sweeps four times per period.
IDLE_SECS = 1


class Eviction(ServerTestCase):
    server_config = {"session_idle_secs": IDLE_SECS}

    def wait_for_eviction(self) -> None:
        """Until the server has ended every session and closed every store (in that order: for
        a moment there are no sessions and a store still closing)."""
        deadline = time.monotonic() + 10 * IDLE_SECS
        while self.server.health() != {"status": "ok", "sessions": 0, "open_stores": 0}:
            self.assertLess(time.monotonic(), deadline, "the server did not evict the idle session")
            time.sleep(0.1)

    def test_an_evicted_session_reopens_itself_once(self) -> None:
        kv = self.client()
        kv["kept"] = "yes"
        first = kv.session_id
        self.wait_for_eviction()

        self.assertIs(kv.is_activate(), False, "is_activate asks without reopening")
        self.assertEqual(kv.session_id, first)
        self.assertEqual(kv["kept"], "yes", "reopened, then the request repeated")
        self.assertNotEqual(kv.session_id, first)
        self.assertEqual(self.server.health()["sessions"], 1)
        self.assertIs(kv.is_activate(), True)

    def test_without_check_active_an_evicted_session_is_an_error(self) -> None:
        kv = self.client(check_active=False)
        kv["kept"] = "yes"
        self.wait_for_eviction()
        with self.assertRaises(SessionExpired) as caught:
            kv["kept"]
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "no_session"))
        self.assertIs(kv.close(), True, "closing a session the server already ended is fine")
        self.assertEqual(kv.session_id, "")

    def test_a_session_closed_elsewhere_reopens_too(self) -> None:
        kv = self.client()
        kv["k"] = "v"
        # Another client ends this client's session: /api/open with its id ends it.
        other = WindKVStore(port=self.server.port)
        self.addCleanup(other.close)
        other.session_id = kv.session_id
        other.open(self.store_name("-other"))
        self.assertEqual(kv.get_current_path(), self.store_name())
        self.assertEqual(kv["k"], "v")


class Restart(ServerTestCase):
    def test_a_restart_in_the_middle_of_a_session(self) -> None:
        kv = self.client()
        kv.put_many({"a": "1", "b": b"\xff"})
        kv.set_kv_id("before restart")
        first = kv.session_id
        self.server.restart()
        self.assertEqual(kv["a"], "1", "a new connection, a new session, the same data")
        self.assertEqual(kv["b"], b"\xff")
        self.assertEqual(kv.get_kv_id(), "before restart")
        self.assertNotEqual(kv.session_id, first)
        kv["c"] = "after"
        self.assertEqual(len(kv), 3)

    def test_a_stopped_server_is_a_connection_failure(self) -> None:
        server = self.start_server()
        kv = self.client(server=server)
        kv["k"] = "v"
        server.stop()
        with self.assertRaises(ConnectionFailed) as caught:
            kv["k"]
        self.assertIsInstance(caught.exception, ConnectionError)
        self.assertIsNone(caught.exception.status)
        with self.assertRaises(ConnectionFailed):
            WindKVStore(port=server.port, kv_path="x.db")
        self.assertIs(kv.close(), True, "an unreachable server's session is forgotten")
        self.assertEqual(kv.session_id, "")


class Tokens(ServerTestCase):
    def test_the_bearer_token(self) -> None:
        server = self.start_server(token="s3cret token")
        with self.assertRaises(Unauthorized) as caught:
            WindKVStore(port=server.port, kv_path="t.db")
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthorized"))
        with self.assertRaises(Unauthorized):
            WindKVStore(port=server.port, kv_path="t.db", token="wrong")
        with self.assertRaises(Unauthorized), WindKVStore(port=server.port) as anonymous:
            anonymous.health()

        kv = self.client("t.db", server=server, token="s3cret token")
        kv["k"] = "v"
        self.assertEqual(kv["k"], "v")
        self.assertEqual(kv.health()["sessions"], 1)
        self.assertNotIn("s3cret", server.log(), "the server never logs the token")


class Refusals(ServerTestCase):
    def test_a_store_held_by_another_process_is_locked(self) -> None:
        kv = self.client()
        kv["k"] = "v"
        second = self.start_server(data_dir=self.server.data_dir)
        with self.assertRaises(Locked) as caught:
            self.client(server=second)
        self.assertEqual((caught.exception.status, caught.exception.code), (409, "locked"))
        kv.close()
        self.assertEqual(self.client(server=second)["k"], "v", "free once the first server closed it")

    def test_a_full_server_is_a_server_error(self) -> None:
        server = self.start_server(config={"max_sessions": 1})
        self.client("one.db", server=server)
        with self.assertRaises(ServerError) as caught:
            self.client("two.db", server=server)
        self.assertEqual((caught.exception.status, caught.exception.code), (503, "too_many_sessions"))

    def test_a_server_that_does_not_answer_times_out(self) -> None:
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)  # connections are accepted by the system and never answered
            port = silent.getsockname()[1]
            started = time.monotonic()
            with self.assertRaises(Timeout) as caught:
                WindKVStore(port=port, kv_path="x.db", timeout=0.3)
            self.assertLess(time.monotonic() - started, 5)
            self.assertIsInstance(caught.exception, TimeoutError)
            self.assertIsInstance(caught.exception, ConnectionFailed)

    def test_nothing_listening_is_a_connection_failure(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaises(ConnectionFailed):
            WindKVStore(port=port, kv_path="x.db", timeout=2)


if __name__ == "__main__":
    unittest.main()
