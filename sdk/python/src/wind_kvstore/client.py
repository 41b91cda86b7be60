"""One session on one store, over one keep-alive HTTP connection."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import warnings
from types import TracebackType
from typing import Any, Dict, Mapping, Optional, Type

from ._operations import SESSION_HEADER, Reply, StoreOperations
from ._version import __version__
from .errors import ConnectionFailed, NotOpen, ServerError, SessionExpired, Timeout, error_for

DEFAULT_HOST = "127.0.0.1"
#: The port wkserver (and the original server) listens on by default.
DEFAULT_PORT = 14514
#: Seconds to wait for a connection or an answer. Generous: a compaction or a large batch
#: answers only once it is done.
DEFAULT_TIMEOUT = 60.0

#: Failures of a kept connection that the server closed while it was idle (it restarted): the
#: request is sent again, once, on a new connection. The server answers every request it reads,
#: so such a request was not run; and were it run, every route but /api/open is idempotent.
_STALE_CONNECTION = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


class WindKVStore(StoreOperations):
    """A client of ``wkserver`` holding one session on one store.

    Takes the original client's arguments, in its order: ``WindKVStore(host, port, kv_path,
    use_https)``; a non-empty ``kv_path`` is opened at once. ``check_active`` (default on):
    when the server says the session is gone (idle too long, closed elsewhere, server
    restarted), open the store again and repeat the request, once. ``token`` is sent as
    ``Authorization: Bearer``; ``timeout`` (seconds) bounds connecting and each answer.

    One connection is kept open and reused. Calls from several threads are safe but take turns;
    for parallel work use :class:`~wind_kvstore.pool.WindKVPool`.
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
        token: Optional[str] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if use_time_to_check_active:
            warn_time_check()
        self.host = host
        self.port = port
        self.use_https = use_https
        self.check_active = check_active
        self.timeout = timeout
        #: The session's id, ``""`` when no store is open.
        self.session_id = ""
        #: The path of the open store (or of the last one opened).
        self.kv_path = ""
        self._token = token
        self._ssl_context = ssl_context
        self._connection: Optional[http.client.HTTPConnection] = None
        self._connection_used = False
        # Held for a whole exchange, reopening included; reentrant because open() is a request.
        self._lock = threading.RLock()
        if kv_path:
            try:
                self.open(kv_path)
            except BaseException:
                self._drop_connection()
                raise

    def __repr__(self) -> str:
        scheme = "https" if self.use_https else "http"
        state = f"open {self.kv_path!r}" if self.session_id else "no store open"
        return f"<WindKVStore {scheme}://{self.host}:{self.port} {state}>"

    # -------------------------------------------------------------- sessions

    def open(self, path: str) -> bool:
        """Opens the store at ``path`` (relative to the server's data directory; created if
        missing) in a new session, ending this client's previous session if it had one."""
        if not path:
            raise ValueError("open: the path can not be empty")
        with self._lock:
            self._open_session(path)
        return True

    def change_kv(self, path: str) -> bool:
        """Switches to the store at ``path`` (the original's name for :meth:`open` on a client
        that has one open)."""
        return self.open(path)

    def _open_session(self, path: str) -> None:
        headers = {SESSION_HEADER: self.session_id} if self.session_id else {}
        body = json.dumps({"path": path}, ensure_ascii=False).encode("utf-8")
        reply = self._exchange("POST", "/api/open", body, "application/json", headers)
        if reply.status >= 400:
            # The server ended the old session before refusing the new one.
            self.session_id = ""
            raise error_for(reply.status, reply.body)
        session = reply.headers.get(SESSION_HEADER.lower())
        if not session:
            raise ServerError(f"/api/open answered no {SESSION_HEADER} header")
        self.session_id = session
        self.kv_path = path

    def close(self) -> bool:
        """Ends the session (the server closes the store when no other session uses it) and the
        connection. ``False`` when no store was open. The client can ``open`` again later.

        A server that cannot be reached is not an error here: the session is forgotten, and
        the server ends it when it idles out (or is gone already, with the server)."""
        with self._lock:
            if not self.session_id:
                self._drop_connection()
                return False
            try:
                reply = self._exchange("GET", "/api/close", None, None, {SESSION_HEADER: self.session_id})
            except ConnectionFailed:
                return True
            finally:
                self.session_id = ""
                self._drop_connection()
            if reply.status >= 400:
                error = error_for(reply.status, reply.body)
                # Already ended by the server: the aim is that it is gone.
                if not isinstance(error, SessionExpired):
                    raise error
            return True

    def __enter__(self) -> WindKVStore:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc is None:
            self.close()
            return
        # An error is already on its way out: a failing close must not hide it.
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # -------------------------------------------------------------- requests

    def health(self) -> Dict[str, Any]:
        with self._lock:
            reply = self._exchange("GET", "/api/health", None, None, {})
        if reply.status >= 400:
            raise error_for(reply.status, reply.body)
        return reply.json_object()

    def _request(
        self,
        method: str,
        route: str,
        *,
        body: Optional[bytes] = None,
        content_type: str = "application/json",
        reopen: bool = True,
    ) -> Reply:
        with self._lock:
            if not self.session_id:
                raise NotOpen()
            reply = self._exchange(method, route, body, content_type, {SESSION_HEADER: self.session_id})
            if reply.status >= 400:
                error = error_for(reply.status, reply.body)
                if not (isinstance(error, SessionExpired) and reopen and self.check_active):
                    raise error
                self._open_session(self.kv_path)
                reply = self._exchange(method, route, body, content_type, {SESSION_HEADER: self.session_id})
                if reply.status >= 400:
                    raise error_for(reply.status, reply.body)
            return reply

    def _exchange(
        self,
        method: str,
        route: str,
        body: Optional[bytes],
        content_type: Optional[str],
        extra: Mapping[str, str],
    ) -> Reply:
        """One request and its whole answer, on the kept connection. A kept connection the
        server closed while idle is replaced and the request sent again, once."""
        headers = {"User-Agent": f"wind-kvstore-python/{__version__}", "Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        if body is not None and content_type:
            headers["Content-Type"] = content_type
        headers.update(extra)
        while True:
            connection = self._connect()
            reused = self._connection_used
            try:
                if connection.sock is None:
                    connection.connect()
                    _no_delay(connection.sock)
                connection.request(method, route, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except socket.timeout as e:
                self._drop_connection()
                shown = f"{method} {route.split('?')[0]}"
                raise Timeout(
                    f"no answer from {self.host}:{self.port} within {self.timeout} s ({shown})"
                ) from e
            except _STALE_CONNECTION as e:
                self._drop_connection()
                if reused:
                    continue
                raise ConnectionFailed(f"{self.host}:{self.port} dropped the connection: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                self._drop_connection()
                raise ConnectionFailed(f"cannot reach wkserver at {self.host}:{self.port}: {e}") from e
            self._connection_used = True
            if response.will_close:
                self._drop_connection()
            headers_lower = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, headers_lower, data)

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self.use_https:
                self._connection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self._ssl_context
                )
            else:
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._connection_used = False
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            self._connection_used = False


def warn_time_check() -> None:
    """The original's ``use_time_to_check_active`` guessed expiry from a clock."""
    warnings.warn(
        "use_time_to_check_active has no effect: the client reopens the session when the server "
        "says it is gone",
        DeprecationWarning,
        stacklevel=3,
    )


def _no_delay(sock: Any) -> None:
    """Requests go out as soon as written: a body written after its headers must not wait for
    the server's delayed acknowledgement (Nagle's algorithm)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass
