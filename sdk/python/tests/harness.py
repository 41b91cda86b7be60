"""Real ``wkserver`` processes for the tests: each on a free loopback port, with its data in a
temporary folder, stopped and removed when the test (or class) that started it ends, and at
exit whatever happens.

The binary is ``$WKSERVER_BIN`` (``cargo test`` sets it), else ``target/debug/wkserver`` of
the repository this folder is in.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from typing import Any, Dict, Optional, Set

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from wind_kvstore import WindKVStore  # noqa: E402

#: How long a server may take to print its first line.
START_SECONDS = 20
#: How long a server may take to stop on SIGTERM (it promises 5 seconds).
STOP_SECONDS = 10
_LISTENING = re.compile(r"wkserver listening on http://127\.0\.0\.1:(\d+)")


def server_binary() -> str:
    path = os.environ.get("WKSERVER_BIN")
    if not path:
        exe = "wkserver.exe" if os.name == "nt" else "wkserver"
        path = os.path.join(HERE, "..", "..", "..", "target", "debug", exe)
    if not os.path.isfile(path):
        raise RuntimeError(
            f"no wkserver binary at {path}: build it (cargo build --bin wkserver) or set WKSERVER_BIN"
        )
    return path


_running: Set["Server"] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


class Server:
    """A ``wkserver`` process. ``config`` adds keys to its configuration file (for example
    ``{"session_idle_secs": 1}``); ``token`` is given as ``WKSERVER_TOKEN``; ``data_dir``
    shares another server's folder."""

    def __init__(
        self,
        *,
        config: Optional[Dict[str, Any]] = None,
        token: Optional[str] = None,
        data_dir: Optional[str] = None,
    ) -> None:
        self.folder = tempfile.mkdtemp(prefix="wk-python-test-")
        self.data_dir = data_dir or os.path.join(self.folder, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.token = token
        self.port = 0
        self.log_path = os.path.join(self.folder, "server.log")
        self.config_path = os.path.join(self.folder, "server.toml")
        lines = [f"data_dir = {_toml_string(self.data_dir)}"]
        for key, value in (config or {}).items():
            lines.append(f"{key} = {_toml_string(value) if isinstance(value, str) else value}")
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def start(self) -> None:
        """Starts the process (on the port it had before, after a restart)."""
        env = dict(os.environ)
        env.pop("WKSERVER_TOKEN", None)
        if self.token is not None:
            env["WKSERVER_TOKEN"] = self.token
        command = [
            server_binary(),
            "--config",
            self.config_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
        _running.add(self)
        first_line: "queue.Queue[bytes]" = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: first_line.put(stdout.readline()), daemon=True).start()
        try:
            line = first_line.get(timeout=START_SECONDS).decode("utf-8", "replace")
        except queue.Empty:
            line = ""
        found = _LISTENING.match(line)
        if not found:
            self.stop()
            raise RuntimeError(f"wkserver did not start ({line.strip()!r}); its log:\n{self.log()}")
        self.port = int(found.group(1))

    def stop(self) -> None:
        """Stops the process the way a service manager does (SIGTERM), killing it if it hangs."""
        process, self.process = self.process, None
        _running.discard(self)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def health(self) -> Dict[str, Any]:
        """``/api/health``, on a connection of its own."""
        with self.client() as kv:
            return kv.health()

    def client(self, path: str = "", **kwargs: Any) -> WindKVStore:
        if self.token is not None:
            kwargs.setdefault("token", self.token)
        return WindKVStore("127.0.0.1", self.port, path, **kwargs)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ServerTestCase(unittest.TestCase):
    """Tests sharing one server per class; each test gets stores of its own name."""

    server_config: Optional[Dict[str, Any]] = None
    server: Server

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Server(config=cls.server_config)
        cls.addClassCleanup(cls.server.remove)

    def start_server(self, **kwargs: Any) -> Server:
        """A server of this test's own, removed when the test ends."""
        server = Server(**kwargs)
        self.addCleanup(server.remove)
        return server

    def store_name(self, suffix: str = "") -> str:
        return self.id().rsplit(".", 1)[-1] + suffix + ".db"

    def client(
        self, path: Optional[str] = None, server: Optional[Server] = None, **kwargs: Any
    ) -> WindKVStore:
        """A client on this test's store, closed when the test ends."""
        kv = (server or self.server).client(self.store_name() if path is None else path, **kwargs)
        self.addCleanup(kv.close)
        return kv
