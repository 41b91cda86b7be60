"""``auto("client" | "pool")``: the original package's way to pick a client class."""

from __future__ import annotations

import warnings
from typing import Type, Union

from .client import WindKVStore
from .pool import WindKVPool

_CHOICES = {"client": WindKVStore, "pool": WindKVPool}


def auto(choice: str = "client") -> Union[Type[WindKVStore], Type[WindKVPool]]:
    """The client class for ``choice``: ``"client"`` gives :class:`WindKVStore` (one session),
    ``"pool"`` gives :class:`WindKVPool` (sessions shared by threads). Both take the same
    arguments and have the same methods. Anything else warns and gives ``"client"``'s, as the
    original did."""
    if choice not in _CHOICES:
        warnings.warn(
            f"auto: unknown choice {choice!r} (use 'client' or 'pool'); using 'client'", stacklevel=2
        )
        choice = "client"
    return _CHOICES[choice]
