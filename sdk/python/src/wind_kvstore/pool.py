"""A thread-safe pool of sessions on one store, for multi-threaded programs."""

from __future__ import annotations

import contextlib
import ssl
import threading
from types import TracebackType
from typing import Any, Dict, Iterator, List, Optional, Type

from ._operations import Reply, StoreOperations
from .client import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT, warn_time_check
from .client import WindKVStore as _Client
from .errors import NotOpen

#: Sessions a pool holds at most unless told otherwise.
DEFAULT_SIZE = 8


class WindKVPool(StoreOperations):
    """Up to ``size`` sessions on one store, each with its own keep-alive connection, shared
    by any number of threads.

    It has every method of :class:`~wind_kvstore.client.WindKVStore`: each call borrows a free
    session (opening one when all are busy and fewer than ``size`` exist, else waiting for one)
    and gives it back when it answers. Sessions on one store see each other's writes at once, so
    which session serves a call does not matter. ``with pool.session() as kv:`` keeps one
    session for several calls.

    Takes the original client's arguments in its order (``host, port, kv_path, use_https``)
    and the client's keywords (``token``, ``timeout``, ``ssl_context``).
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        kv_path: str = "",
        use_https: bool = False,
        check_active: bool = True,
        use_time_to_check_active: bool = False,
        *,
        size: int = DEFAULT_SIZE,
        token: Optional[str] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one session")
        if use_time_to_check_active:
            warn_time_check()
        self.size = size
        self._client_args: Dict[str, Any] = dict(
            host=host,
            port=port,
            use_https=use_https,
            check_active=check_active,
            token=token,
            timeout=timeout,
            ssl_context=ssl_context,
        )
        self._path = ""
        # Guards everything below; waited on for a session to come back.
        self._changed = threading.Condition()
        self._idle: List[_Client] = []
        # Sessions that exist: idle, lent out, or being opened. One that comes back open on
        # another path than the pool's (open() or close() ran meanwhile) is closed.
        self._count = 0
        if kv_path:
            self.open(kv_path)

    def __repr__(self) -> str:
        state = f"open {self._path!r}" if self._path else "no store open"
        where = f"{self._client_args['host']}:{self._client_args['port']}"
        return f"<WindKVPool {where} {state}, {self._count}/{self.size} sessions>"

    @property
    def kv_path(self) -> str:
        """The store's path, ``""`` when none is open."""
        return self._path

    # -------------------------------------------------------------- sessions

    def open(self, path: str) -> bool:
        """Makes ``path`` the pool's store, and opens one session on it at once so that a bad
        path or a locked store is reported here (the pool then has no store open). Sessions on the
        previous store are closed (those lent out when they come back)."""
        if not path:
            raise ValueError("open: the path can not be empty")
        self._retire(path)
        try:
            with self.session():
                pass
        except BaseException:
            self._retire("")
            raise
        return True

    def change_kv(self, path: str) -> bool:
        return self.open(path)

    def close(self) -> bool:
        """Closes every session (those lent out when they come back). ``False`` when no store
        was open. The pool can ``open`` again later."""
        return self._retire("")

    def _retire(self, new_path: str) -> bool:
        with self._changed:
            was_open = bool(self._path)
            self._path = new_path
            retired, self._idle = self._idle, []
            self._count -= len(retired)
            self._changed.notify_all()
        for kv in retired:
            self._forget(kv)
        return was_open

    def __enter__(self) -> WindKVPool:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self) -> Iterator[_Client]:
        """Lends one session for the ``with`` block (waiting while all ``size`` are busy)."""
        kv = self._acquire()
        try:
            yield kv
        finally:
            self._release(kv)

    def _acquire(self) -> _Client:
        with self._changed:
            while True:
                if not self._path:
                    raise NotOpen()
                if self._idle:
                    return self._idle.pop()
                if self._count < self.size:
                    self._count += 1
                    path = self._path
                    break
                self._changed.wait()
        try:
            return _Client(kv_path=path, **self._client_args)
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise

    def _release(self, kv: _Client) -> None:
        with self._changed:
            current = bool(kv.session_id) and kv.kv_path == self._path
            if current:
                self._idle.append(kv)
            else:
                self._count -= 1
            self._changed.notify()
        if not current:
            self._forget(kv)

    @staticmethod
    def _forget(kv: _Client) -> None:
        try:
            kv.close()
        except Exception:  # noqa: BLE001
            # Closing is tidiness: the server ends an unreachable session when it idles out.
            pass

    # -------------------------------------------------------------- requests

    def _request(
        self,
        method: str,
        route: str,
        *,
        body: Optional[bytes] = None,
        content_type: str = "application/json",
        reopen: bool = True,
    ) -> Reply:
        with self.session() as kv:
            return kv._request(method, route, body=body, content_type=content_type, reopen=reopen)

    def health(self) -> Dict[str, Any]:
        with _Client(**self._client_args) as kv:
            return kv.health()


#: The original package's name for its pooled client class (``from wind_kvstore.pool import
#: WindKVStore``).
WindKVStore = WindKVPool
