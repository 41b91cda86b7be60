"""The pool of sessions under threads, against a real server."""

from __future__ import annotations

import threading
import unittest
from typing import List

from harness import ServerTestCase

from wind_kvstore import BadRequest, NotOpen, WindKVPool, auto

THREADS = 8
WRITES_PER_THREAD = 60


class Pool(ServerTestCase):
    def pool(self, path: str = "", size: int = 4) -> WindKVPool:
        pool = WindKVPool("127.0.0.1", self.server.port, path or self.store_name(), size=size)
        self.addCleanup(pool.close)
        return pool

    def test_eight_threads_write_through_four_sessions_and_nothing_is_lost(self) -> None:
        pool = self.pool(size=4)
        most_sessions: List[int] = []
        errors: List[BaseException] = []
        start = threading.Barrier(THREADS)

        def writer(t: int) -> None:
            try:
                start.wait()
                for i in range(WRITES_PER_THREAD):
                    if i % 3 == 0:
                        pool.put_many({f"t{t}:{i:03}": f"v{t}.{i}", f"t{t}:{i:03}:bin": bytes([0xFF, t, i])})
                    else:
                        pool[f"t{t}:{i:03}"] = f"v{t}.{i}"
                        pool[f"t{t}:{i:03}:bin"] = bytes([0xFF, t, i])
                    if i % 20 == 0:
                        most_sessions.append(pool.health()["sessions"])
                        self.assertEqual(pool[f"t{t}:{i:03}"], f"v{t}.{i}", "a write is seen at once")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])

        everything = dict(pool.scan(page_size=250))
        self.assertEqual(len(everything), THREADS * WRITES_PER_THREAD * 2)
        for t in range(THREADS):
            for i in range(WRITES_PER_THREAD):
                self.assertEqual(everything[f"t{t}:{i:03}"], f"v{t}.{i}")
                self.assertEqual(everything[f"t{t}:{i:03}:bin"], bytes([0xFF, t, i]))
        self.assertEqual(len(pool), THREADS * WRITES_PER_THREAD * 2)
        self.assertLessEqual(max(most_sessions), 4, "never more sessions than the pool's size")
        self.assertLessEqual(self.server.health()["sessions"], 4)
        self.assertIs(pool.close(), True)
        self.assertEqual(self.server.health()["sessions"], 0, "close ends every session")

    def test_the_original_calls_through_the_pool(self) -> None:
        WindKVStore = auto("pool")
        with WindKVStore("127.0.0.1", self.server.port) as kv:
            with self.assertRaises(NotOpen):
                kv.get_value("k")
            self.assertTrue(kv.open(self.store_name()))
            self.assertEqual(kv.kv_path, self.store_name())
            self.assertIs(kv.put_kv("name", "Alice"), True)
            self.assertEqual(kv.get_value("name"), "Alice")
            self.assertIs(kv.del_kv("name"), True)
            self.assertIsNone(kv.get_value("name"))
            self.assertIs(kv.set_kv_id("pooled"), True)
            self.assertEqual(kv.get_kv_id(), "pooled")
            self.assertIs(kv.compact(), True)
            self.assertEqual(kv.get_current_path(), self.store_name())
            self.assertEqual(kv.state_execute('PUT "a":"1"; GET WHERE KEY="a";'), [True, True])
            self.assertIn('"message": "1"', kv.execute('GET WHERE KEY="a";'))
            self.assertIs(kv.is_activate(), True)
        self.assertEqual(self.server.health()["sessions"], 0)
        with self.assertRaises(NotOpen):
            kv.get_value("a")

    def test_a_borrowed_session_and_switching_stores(self) -> None:
        pool = self.pool(size=2)
        with pool.session() as kv:
            kv["mine"] = "1"
            with pool.session() as other:
                self.assertNotEqual(kv.session_id, other.session_id)
                self.assertEqual(other["mine"], "1", "sessions on one store share it")
        self.assertEqual(self.server.health()["sessions"], 2)

        pool.open(self.store_name("-second"))
        self.assertEqual(self.server.health()["sessions"], 1, "the first store's sessions were closed")
        self.assertNotIn("mine", pool)
        self.assertEqual(pool.get_current_path(), self.store_name("-second"))
        with pool.session() as lent:
            pool.open(self.store_name("-third"))
            self.assertEqual(lent.get_current_path(), self.store_name("-second"))
            self.assertEqual(self.server.health()["sessions"], 2)
        self.assertEqual(
            self.server.health()["sessions"], 1, "a session of the old store is closed on return"
        )
        self.assertEqual(pool.get_current_path(), self.store_name("-third"))
        with self.assertRaises(BadRequest):
            pool.open("../escape.db")
        with self.assertRaises(NotOpen):
            pool["mine"]
        with self.assertRaises(ValueError):
            WindKVPool(port=self.server.port, size=0)


if __name__ == "__main__":
    unittest.main()
