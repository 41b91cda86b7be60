"""The original client's calls, in the original client's order, with its answers (the same
sequence tests/server/original.rs replays at the HTTP level)."""

from __future__ import annotations

import json
import unittest
import warnings

from harness import ServerTestCase

import wind_kvstore
from wind_kvstore import NotOpen, WindKVPool, WindKVStore, auto


class OriginalSequence(ServerTestCase):
    def test_the_original_sequence_gets_the_original_answers(self) -> None:
        kv = WindKVStore("127.0.0.1", self.server.port)
        self.addCleanup(kv.close)
        self.assertTrue(kv.open("test.kv"))
        self.assertEqual(len(kv.session_id), 36, "a UUID from the X-Session-ID header")
        self.assertEqual(kv.get_current_path(), "test.kv")

        for key, value in [("name", "Alice"), ("age", "25"), ("city", "New York")]:
            self.assertIs(kv.put_kv(key, value), True)
        for key, value in [("name", "Alice"), ("age", "25"), ("city", "New York")]:
            self.assertEqual(kv.get_value(key), value)

        self.assertIs(kv.del_kv("city"), True)
        self.assertIsNone(kv.get_value("city"))
        self.assertIs(kv.del_kv("city"), True, "the original answered True for an absent key too")

        self.assertIs(kv.set_kv_id("test_db_123"), True)
        self.assertEqual(kv.get_kv_id(), "test_db_123")
        self.assertIs(kv.compact(), True)

        script = '\n    PUT "color":"blue";    PUT "size":"large";    IDENTIFIER SET "advanced_db_456";\n    '
        self.assertEqual(
            json.loads(kv.execute(script)),
            {
                "cmd1": {"command": 'PUT "color":"blue"', "message": "Inserted 1 key-value pairs"},
                "cmd2": {"command": 'PUT "size":"large"', "message": "Inserted 1 key-value pairs"},
                "cmd3": {
                    "command": 'IDENTIFIER SET "advanced_db_456"',
                    "message": "Identifier set to 'advanced_db_456'",
                },
            },
        )
        self.assertEqual(kv.get_value("color"), "blue")
        self.assertEqual(kv.get_value("size"), "large")
        self.assertEqual(kv.get_kv_id(), "advanced_db_456")

        script = '\n    PUT "colors":"white";    PUT "sizes":"small";    IDENTIFIER SET "l l l l";\n    '
        self.assertEqual(kv.state_execute(script), [True, True, True])
        self.assertEqual(kv.get_value("colors"), "white")
        self.assertEqual(kv.get_kv_id(), "l l l l")

        self.assertIs(kv.close(), True)
        self.assertEqual(kv.session_id, "")
        self.assertIs(kv.close(), False, "nothing left to close")
        self.assertEqual(self.server.health()["sessions"], 0)

        # What the session wrote is in the file.
        with WindKVStore(port=self.server.port, kv_path="test.kv") as again:
            self.assertEqual(again.get_value("name"), "Alice")
            self.assertEqual(again.get_kv_id(), "l l l l")

    def test_empty_arguments_are_refused_before_anything_is_sent(self) -> None:
        kv = self.client()
        for call in (
            lambda: kv.put_kv("", "value"),
            lambda: kv.put_kv("key", ""),
            lambda: kv.del_kv(""),
            lambda: kv.set_kv_id(""),
            lambda: kv.execute(""),
            lambda: kv.state_execute(""),
            lambda: kv.open(""),
        ):
            with self.assertRaises(ValueError):
                call()
        self.assertIsNone(kv.get_value("key"), "nothing was written")
        self.assertEqual(kv.get_kv_id(), "KVStore", "the identifier a new store starts with")

    def test_calls_without_an_open_store_raise(self) -> None:
        kv = WindKVStore(port=self.server.port)
        self.assertEqual(kv.session_id, "")
        with self.assertRaises(NotOpen) as caught:
            kv.get_current_path()
        self.assertIsInstance(caught.exception, ValueError, "the original raised ValueError")
        with self.assertRaises(NotOpen):
            kv.put_kv("k", "v")
        with self.assertRaises(NotOpen):
            kv["k"]

    def test_the_context_manager_opens_and_closes(self) -> None:
        with self.server.client(self.store_name()) as kv:
            kv.put_kv("k", "v")
            self.assertEqual(self.server.health()["sessions"], 1)
        self.assertEqual(kv.session_id, "")
        self.assertEqual(self.server.health(), {"status": "ok", "sessions": 0, "open_stores": 0})

    def test_change_kv_and_is_activate(self) -> None:
        kv = self.client()
        kv.put_kv("where", "first")
        first = kv.session_id
        self.assertIs(kv.is_activate(), True)
        self.assertIs(kv.change_kv(self.store_name("-second")), True)
        self.assertNotEqual(kv.session_id, first)
        self.assertEqual(kv.get_current_path(), self.store_name("-second"))
        self.assertIsNone(kv.get_value("where"))
        self.assertEqual(self.server.health()["sessions"], 1, "the first session was ended")

    def test_the_original_positional_arguments(self) -> None:
        kv = WindKVStore("127.0.0.1", self.server.port, self.store_name(), False, False)
        self.addCleanup(kv.close)
        self.assertEqual((kv.kv_path, kv.use_https, kv.check_active), (self.store_name(), False, False))
        self.assertEqual(kv.get_current_path(), self.store_name(), "kv_path is opened at once")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            WindKVStore("127.0.0.1", self.server.port, "", False, True, True)
        self.assertEqual([w.category for w in caught], [DeprecationWarning])
        self.assertIn("use_time_to_check_active", str(caught[0].message))
        self.assertEqual(caught[0].filename, __file__, "the warning points at the caller")

    def test_state_execute_judges_every_statement(self) -> None:
        kv = self.client()
        answers = kv.state_execute(
            'PUT "a":"1"; GET WHERE KEY="a"; GET WHERE KEY="zz"; DEL WHERE KEY="zz"; DEL WHERE KEY="a"; '
            'GET WHERE KEY "a"; IDENTIFIER GET; COUNT; EXPORT "/etc/x";'
        )
        # The server answers `Key deleted` for an absent key, as the original did: the status
        # cannot tell that DEL from one that deleted.
        self.assertEqual(answers, [True, True, False, True, True, False, True, True, False])

    def test_execute_keeps_failed_statements_with_their_error(self) -> None:
        kv = self.client()
        entries = json.loads(kv.execute('PUT "a":"1"; GET WHERE KEY "a"; EXPORT "../x"; COUNT;'))
        self.assertEqual(list(entries), ["cmd1", "cmd2", "cmd3", "cmd4"])
        self.assertEqual(entries["cmd2"], {"command": 'GET WHERE KEY "a"', "message": "Error: Unknown command"})
        self.assertEqual(entries["cmd3"]["command"], 'EXPORT "../x"')
        self.assertTrue(entries["cmd3"]["message"].startswith("Error: "), entries["cmd3"])
        self.assertEqual(entries["cmd4"], {"command": "COUNT", "message": "1"})


class OriginalNames(unittest.TestCase):
    def test_auto_picks_the_class(self) -> None:
        self.assertIs(auto("client"), WindKVStore)
        self.assertIs(auto("pool"), WindKVPool)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertIs(auto("threads"), WindKVStore)
        self.assertEqual(len(caught), 1)
        self.assertIn("threads", str(caught[0].message))

    def test_the_original_module_and_class_names(self) -> None:
        from wind_kvstore.auto import auto as auto_function
        from wind_kvstore.client import WindKVStore as client_class
        from wind_kvstore.pool import WindKVStore as pool_class

        self.assertIs(auto_function, auto)
        self.assertIs(client_class, WindKVStore)
        self.assertIs(pool_class, WindKVPool)
        self.assertIs(wind_kvstore.cWindKVStore, WindKVStore)
        self.assertIs(wind_kvstore.pWindKVStore, WindKVPool)


if __name__ == "__main__":
    unittest.main()
