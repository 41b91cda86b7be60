"""The exceptions the client raises.

Every one derives from :class:`WindKVError` and carries what the server said: the HTTP
``status``, the stable ``code`` of its JSON error (``"no_session"``, ``"locked"``, ...) and
its ``message``. Each also derives from the built-in exception a Python programmer would
reach for, so ``except KeyError`` or ``except ValueError`` keep working.
"""

from __future__ import annotations

import json
from typing import Optional


class WindKVError(Exception):
    """Base of every error this package raises."""

    def __init__(self, message: str, *, status: Optional[int] = None, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        #: The HTTP status of the answer, ``None`` when there was no answer.
        self.status = status
        #: The server's ``error`` code, or one of the client's own (``"not_open"``, ...).
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class BadRequest(WindKVError, ValueError):
    """The server refused the request as malformed or impossible (400, 413): a bad path, a key
    or value over a limit, bad base64..."""


class Unauthorized(WindKVError):
    """The server wants a bearer token and the client sent none or a wrong one (401
    ``unauthorized``)."""


class SessionExpired(WindKVError):
    """The server does not know the session (401 ``no_session``): it was closed, expired after
    being idle, or the server restarted. The client reopens once by itself; this is raised when
    that is turned off (``check_active=False``) or did not help."""


class NotFound(WindKVError, KeyError):
    """The key is not in the store (``kv[key]``, ``del kv[key]``)."""

    def __init__(self, message: str, *, key: object = None) -> None:
        super().__init__(message, code="not_found")
        #: The key that was asked for.
        self.key = key


class Locked(WindKVError):
    """The store is held by another process (409 ``locked``), refuses writes after an I/O
    failure (409 ``store_failed``), or is read-only (409 ``read_only``)."""


class ServerError(WindKVError):
    """The server failed (500), is full or stopping (503), has no such route (404, 405: a
    server older than this client), or answered something the API does not allow."""


class ConnectionFailed(WindKVError, ConnectionError):
    """No answer: the server could not be reached or dropped the connection."""


class Timeout(ConnectionFailed, TimeoutError):
    """No answer within the client's ``timeout``."""


class NotOpen(WindKVError, ValueError):
    """The client has no store open: call ``open(path)`` first (or give ``kv_path``)."""

    def __init__(self, message: str = "No kv-store opened: call open(path) first") -> None:
        super().__init__(message, code="not_open")


def error_for(status: int, body: bytes) -> WindKVError:
    """The exception for an answer with HTTP status ``status`` (400 or more) and body
    ``body``, which the server sends as ``{"error": code, "message": ..., "status": ...}``."""
    code: Optional[str] = None
    message = ""
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        if isinstance(decoded.get("error"), str):
            code = decoded["error"]
        for field in ("message", "status"):
            if isinstance(decoded.get(field), str):
                message = decoded[field]
                break
    if not message:
        message = body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    kind: type
    if status == 401:
        kind = SessionExpired if code == "no_session" else Unauthorized
    elif status == 409:
        kind = Locked
    elif status in (400, 413):
        kind = BadRequest
    else:
        kind = ServerError
    return kind(message, status=status, code=code)
