"""Python client for ``wkserver``, the HTTP server of Wind-KVStore.

>>> from wind_kvstore import WindKVStore
>>> with WindKVStore(port=14514, kv_path="app.db") as kv:   # doctest: +SKIP
...     kv["user:1"] = "alice"
...     kv["user:1"]
'alice'

:class:`WindKVStore` holds one session over one keep-alive connection; :class:`WindKVPool`
shares up to ``size`` sessions among threads. Both have the original client's methods
(``put_kv``, ``get_value``, ``execute``, ...) and a mapping-like API (``kv[key]``, ``get``,
``put_many``, ``scan``, ``stats``). Errors are :class:`WindKVError` subclasses. The standard
library is the only dependency.
"""

from ._version import __version__
from .auto import auto
from .client import WindKVStore
from .errors import (
    BadRequest,
    ConnectionFailed,
    Locked,
    NotFound,
    NotOpen,
    ServerError,
    SessionExpired,
    Timeout,
    Unauthorized,
    WindKVError,
)
from .pool import WindKVPool

#: The original package's names for the two classes.
cWindKVStore = WindKVStore
pWindKVStore = WindKVPool

__all__ = [
    "__version__",
    "auto",
    "WindKVStore",
    "WindKVPool",
    "cWindKVStore",
    "pWindKVStore",
    "WindKVError",
    "BadRequest",
    "ConnectionFailed",
    "Locked",
    "NotFound",
    "NotOpen",
    "ServerError",
    "SessionExpired",
    "Timeout",
    "Unauthorized",
]
