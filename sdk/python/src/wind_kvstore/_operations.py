"""Every store operation, written once over one abstract request. The single-session client
(:class:`~wind_kvstore.client.WindKVStore`) sends it on its own connection and session; the
pool (:class:`~wind_kvstore.pool.WindKVPool`) on whichever of its sessions is free."""

from __future__ import annotations

import json
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
)
from urllib.parse import quote

from . import _codec
from ._codec import BASE64, Data, Text
from .errors import NotFound, ServerError, SessionExpired

T = TypeVar("T")

#: Pairs one ``/api/scan`` request asks for unless told otherwise.
DEFAULT_PAGE_SIZE = 1000
#: The most the server answers in one page (docs/SERVER.md).
MAX_PAGE_SIZE = 10_000

SESSION_HEADER = "X-Session-ID"
KEY_EXISTED_HEADER = "X-Key-Existed"


class Reply:
    """One HTTP answer, read whole."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        #: Header names in lower case.
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as e:
            shown = self.body[:200].decode("utf-8", "replace")
            raise ServerError(
                f"the server answered HTTP {self.status} with text that is not JSON: {shown!r}"
            ) from e

    def json_object(self) -> Dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ServerError(f"the server answered JSON that is not an object: {body!r}")
        return body

    def string(self, name: str) -> str:
        """The answer's string field ``name``."""
        value = self.json_object().get(name)
        if not isinstance(value, str):
            raise ServerError(f"the server's answer has no string {name!r}: {self.body[:200]!r}")
        return value


def target(route: str, query: Optional[Mapping[str, str]] = None) -> str:
    """``route`` with ``query`` percent-encoded (every byte but unreserved ones)."""
    if not query:
        return route
    return route + "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())


def _shaped(key: Data, value: bytes) -> Text:
    """A value as :meth:`StoreOperations.get` answers it: bytes for a bytes key."""
    return _codec.as_text(value) if isinstance(key, str) else value


def _not_empty(name: str, text: object, function: str) -> None:
    if not text:
        raise ValueError(f"{function}: the {name} can not be empty")


class StoreOperations:
    """The original client's methods and the Pythonic ones, over :meth:`_request`."""

    # -------------------------------------------------------------- what subclasses provide

    def _request(
        self,
        method: str,
        route: str,
        *,
        body: Optional[bytes] = None,
        content_type: str = "application/json",
        reopen: bool = True,
    ) -> Reply:
        """Sends one request in a session (``route`` with its query) and answers the reply,
        raising the matching :class:`~wind_kvstore.errors.WindKVError` for an error status.
        ``reopen``: a session the server no longer knows is opened again once, and the request
        repeated."""
        raise NotImplementedError

    def health(self) -> Dict[str, Any]:
        """``/api/health``: ``{"status": "ok", "sessions": n, "open_stores": n}``; needs no
        session."""
        raise NotImplementedError

    def _post_json(self, route: str, payload: Any) -> Reply:
        return self._request("POST", route, body=json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    # -------------------------------------------------------------- the original client's calls

    def get_current_path(self) -> str:
        """The store's path, as given to ``open``."""
        return self._request("GET", "/api/current").string("path")

    def is_activate(self) -> bool:
        """Whether the server still knows this client's session (the original's name)."""
        try:
            self._request("GET", "/api/current", reopen=False)
        except SessionExpired:
            return False
        return True

    def put_kv(self, key: str, value: str) -> bool:
        """Stores one pair. Unlike ``kv[key] = value``, refuses an empty key or value with
        ``ValueError``, as the original did."""
        if not key or not value:
            raise ValueError(f"The key and value can not be empty (key: {key!r}, value: {value!r})")
        self.put(key, value)
        return True

    def get_value(self, key: Data) -> Optional[Text]:
        """The value of ``key`` (``str`` when it is text, else ``bytes``), ``None`` when absent."""
        return self.get(key)

    def del_kv(self, key: Data) -> bool:
        """Deletes ``key``; ``True`` whether or not it existed, as the original (see
        :meth:`delete` to know which)."""
        _not_empty("key", key, "del_kv")
        self.delete(key)
        return True

    def set_kv_id(self, identifier: str) -> bool:
        """Sets the store's identifier (at most 64 bytes of UTF-8)."""
        _not_empty("identifier", identifier, "set_kv_id")
        self._post_json("/api/id/set", {"identifier": identifier})
        return True

    def get_kv_id(self) -> str:
        """The store's identifier."""
        return self._request("GET", "/api/id/get").string("identifier")

    def compact(self) -> bool:
        """Rewrites the store densely, giving free space back to the file system."""
        self._request("GET", "/api/compact")
        return True

    def execute(self, command: str) -> str:
        """Runs statements of the command language; answers, as the original client did, JSON
        text ``{"cmd1": {"command": ..., "message": ...}, ...}``: one entry per statement, in
        order. A failed statement's message starts with ``Error: `` (the original left failed
        statements out); one the server does not know answers ``Error: Unknown command``.

        Built from the server's summary ``status``, which is meant for people: a message that
        itself contains ``;" "`` followed by a statement can be split wrongly. For exact typed
        results use :meth:`execute_results`."""
        entries = {
            f"cmd{i}": {"command": statement or "", "message": answer}
            for i, (statement, answer) in enumerate(self._execute_status(command), 1)
        }
        return json.dumps(entries, indent=2)

    def state_execute(self, command: str) -> List[bool]:
        """Runs statements; answers one ``bool`` per statement, in order: whether it succeeded
        (not an error, and a ``GET`` or ``DEL`` found its key). The original answered only for
        the statements it knew and ``"PASS(ID-GET)"`` for ``IDENTIFIER GET``; here every
        statement has its entry and ``IDENTIFIER GET`` is ``True``."""
        return [_codec.succeeded(s, a) for s, a in self._execute_status(command)]

    def _execute_status(self, command: str) -> List[Tuple[Optional[str], str]]:
        _not_empty("command", command, "execute")
        return _codec.split_status(self._execute(command, results=False).string("status"), command)

    def _execute(self, command: str, *, results: bool) -> Reply:
        return self._request(
            "POST",
            target("/api/execute", {"results": "true"} if results else None),
            body=command.encode("utf-8"),
            content_type="text/plain; charset=utf-8",
        )

    # -------------------------------------------------------------- the Pythonic API

    def execute_results(self, statements: str) -> List[Dict[str, Any]]:
        """Runs statements; answers one typed result per statement, in order, in the shape
        docs/COMMANDS.md documents (``result["kind"]`` names it: ``"inserted"``, ``"value"``,
        ``"not_found"``, ``"error"``, ...). Byte strings that are not UTF-8 come as ``bytes``.
        Every statement runs and commits on its own; a failed one does not stop the rest."""
        _not_empty("statements", statements, "execute_results")
        results = self._execute(statements, results=True).json_object().get("results")
        if not isinstance(results, list):
            raise ServerError("/api/execute answered no results: the server predates ?results=true")
        decoded: List[Dict[str, Any]] = _codec.decode_results(results)
        return decoded

    def get(self, key: Data, default: T = None) -> Union[Text, T]:  # type: ignore[assignment]
        """The value of ``key``, ``default`` when the key is absent. Bytes in, bytes out: for a
        ``bytes`` key the value is ``bytes``; for a ``str`` key it is ``str`` when it is UTF-8
        text, else ``bytes`` (use :meth:`get_bytes` to always have ``bytes``)."""
        found = self._get(key, binary=False)
        return default if found is None else _shaped(key, found)

    def get_bytes(self, key: Data, default: T = None) -> Union[bytes, T]:  # type: ignore[assignment]
        """The value of ``key`` as ``bytes`` whatever it holds; ``default`` when absent."""
        found = self._get(key, binary=True)
        return default if found is None else found

    def _get(self, key: Data, *, binary: bool) -> Optional[bytes]:
        text, is_base64 = _codec.wire(_codec.to_bytes(key, "key"))
        query = {"key": text}
        if is_base64:
            query["key_encoding"] = BASE64
        if binary:
            query["encoding"] = BASE64
        body = self._request("GET", target("/api/get", query)).json_object()
        if "value" not in body:
            raise ServerError(f"/api/get answered no value: {body!r}")
        if body["value"] is None:
            return None
        return _codec.from_wire(body["value"], body.get("encoding"), "value")

    def put(self, key: Data, value: Data) -> None:
        """Stores one pair (replacing the key's value); durable when it returns."""
        self.put_many([(key, value)])

    def put_many(self, pairs: Union[Mapping[Data, Data], Iterable[Tuple[Data, Data]]]) -> int:
        """Stores every pair of a mapping or of an iterable of ``(key, value)`` in one atomic
        batch: all of them or, on any error, none. Answers how many pairs were sent."""
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        body: List[Dict[str, str]] = []
        for key, value in items:
            key_text, key_base64 = _codec.wire(_codec.to_bytes(key, "key"))
            item = {"key": key_text}
            if key_base64:
                item["key_encoding"] = BASE64
            if isinstance(value, str):
                item["value"] = value
            else:
                item["value"] = _codec.b64encode(_codec.to_bytes(value, "value"))
                item["encoding"] = BASE64
            body.append(item)
        if body:
            self._post_json("/api/put", body)
        return len(body)

    def delete(self, key: Data) -> bool:
        """Deletes ``key``; answers whether it existed."""
        text, is_base64 = _codec.wire(_codec.to_bytes(key, "key"))
        payload = {"key": text}
        if is_base64:
            payload["key_encoding"] = BASE64
        existed = self._post_json("/api/del", payload).headers.get(KEY_EXISTED_HEADER.lower())
        if existed not in ("true", "false"):
            raise ServerError(f"/api/del answered no {KEY_EXISTED_HEADER} header")
        return existed == "true"

    def scan(
        self,
        prefix: Optional[Data] = None,
        start: Optional[Data] = None,
        limit: Optional[int] = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        binary: bool = False,
    ) -> Iterator[Tuple[Text, Text]]:
        """``(key, value)`` pairs in key order: keys starting with ``prefix``, from ``start``
        on (inclusive), at most ``limit`` of them (all when ``None``). Pages of ``page_size``
        are fetched as the iteration goes, each resuming where the server said the last ended,
        so a store of any size is listed in bounded memory; writes made meanwhile may or may
        not be seen. Keys and values are ``str`` when UTF-8 text, else ``bytes``; with
        ``binary=True`` always ``bytes``."""
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}")
        prefix_bytes = None if prefix is None else _codec.to_bytes(prefix, "prefix")
        next_key = None if start is None else _codec.to_bytes(start, "start")
        left = limit
        while left is None or left > 0:
            size = page_size if left is None else min(left, page_size)
            pairs, next_key = self._scan_page(prefix_bytes, next_key, size)
            for key, value in pairs:
                yield (key, value) if binary else (_codec.as_text(key), _codec.as_text(value))
            if left is not None:
                left -= len(pairs)
            if next_key is None:
                return
            if not pairs:
                raise ServerError("/api/scan answered an empty page with a next key")

    def _scan_page(
        self, prefix: Optional[bytes], start: Optional[bytes], limit: int
    ) -> Tuple[List[Tuple[bytes, bytes]], Optional[bytes]]:
        query: Dict[str, str] = {}
        given = {name: v for name, v in (("prefix", prefix), ("start", start)) if v is not None}
        texts = {name: _codec.wire(v) for name, v in given.items()}
        if any(is_base64 for _, is_base64 in texts.values()):
            # One flag covers both parameters (and makes every key and value come in base64).
            query.update({name: _codec.b64encode(v) for name, v in given.items()})
            query["encoding"] = BASE64
        else:
            query.update({name: text for name, (text, _) in texts.items()})
        query["limit"] = str(limit)
        body = self._request("GET", target("/api/scan", query)).json_object()
        raw_pairs = body.get("pairs")
        if not isinstance(raw_pairs, list):
            raise ServerError(f"/api/scan answered no pairs: {body!r}")
        pairs = [
            (
                _codec.from_wire(p.get("key"), p.get("key_encoding"), "key"),
                _codec.from_wire(p.get("value"), p.get("encoding"), "value"),
            )
            for p in raw_pairs
        ]
        nxt = body.get("next")
        next_key = None if nxt is None else _codec.from_wire(nxt, body.get("next_encoding"), "next key")
        return pairs, next_key

    def stats(self) -> Dict[str, Any]:
        """The store's counters (``key_count``, ``file_bytes``, ``tree_depth``, ...; see
        docs/COMMANDS.md) and its ``path``."""
        return self._request("GET", "/api/stats").json_object()

    # -------------------------------------------------------------- the mapping protocol

    def __getitem__(self, key: Data) -> Text:
        """The value of ``key`` as :meth:`get` gives it; :class:`NotFound` (a ``KeyError``)
        when absent."""
        found = self._get(key, binary=False)
        if found is None:
            raise NotFound(f"key {key!r} not found", key=key)
        return _shaped(key, found)

    def __setitem__(self, key: Data, value: Data) -> None:
        self.put(key, value)

    def __delitem__(self, key: Data) -> None:
        if not self.delete(key):
            raise NotFound(f"key {key!r} not found", key=key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (str, bytes, bytearray, memoryview)):
            return False
        return self._get(key, binary=False) is not None

    def __iter__(self) -> Iterator[Text]:
        """The keys, in order (fetched a page at a time, values included)."""
        return (key for key, _ in self.scan())

    def __len__(self) -> int:
        """How many keys the store holds."""
        count = self.stats().get("key_count")
        if not isinstance(count, int):
            raise ServerError(f"/api/stats answered no key_count: {count!r}")
        return count

    def __bool__(self) -> bool:
        # A client is true whatever the store holds: `if kv:` must not ask the server.
        return True
