"""How keys, values and answers travel: bytes and text, base64, and the ``status`` string of
``/api/execute``."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, List, Optional, Tuple, Union

from .errors import ServerError

#: What a key or value may be given as: text (stored as its UTF-8 bytes) or bytes.
Data = Union[str, bytes, bytearray, memoryview]
#: What a key or value comes back as: ``str`` when its bytes are UTF-8 text, else ``bytes``.
Text = Union[str, bytes]

BASE64 = "base64"


def to_bytes(data: Data, what: str) -> bytes:
    """The bytes the store keeps for ``data``: a ``str`` is encoded as UTF-8."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"a {what} is str or bytes, not {type(data).__name__}")


def as_text(data: bytes) -> Text:
    """``data`` as ``str`` when it is UTF-8 text, else as ``bytes`` (the server's own rule)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def wire(data: bytes) -> Tuple[str, bool]:
    """``data`` as a JSON string: its text when it is UTF-8, else base64 (then ``True``)."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return b64encode(data), True


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def from_wire(text: Any, encoding: Any, what: str) -> bytes:
    """The bytes a JSON string of an answer stands for, ``encoding`` being its ``*encoding``
    field (absent for text)."""
    if not isinstance(text, str):
        raise ServerError(f"the server answered a {what} that is not a string: {text!r}")
    if encoding == BASE64:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ServerError(f"the server answered a {what} that is not base64: {e}") from e
    return text.encode("utf-8")


def decode_results(value: Any) -> Any:
    """``/api/execute`` results with every ``{"base64": "..."}`` (a byte string that is not
    UTF-8, as COMMANDS.md writes it) turned into ``bytes``."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(BASE64), str):
            return from_wire(value[BASE64], BASE64, "byte string")
        return {k: decode_results(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_results(v) for v in value]
    return value


# ------------------------------------------------------------------ the execute status string
#
# `/api/execute` answers, as the original server did, one string for a whole script: for each
# statement `"<statement>: <answer>;"`, joined by single spaces, where <statement> is the
# statement as the language writes it back (keyword first, strings quoted with `\"` escapes,
# never a line break, a `;` or `: ` outside a string) and a statement that does not parse reads
# `"Error: line L, column C: <message>;"`. An answer is free text and may itself hold `;" "`:
# a piece ends at the first `;" "` that is followed by something that starts a piece.

#: The first word of every statement of the language (docs/COMMANDS.md).
_KEYWORDS = frozenset(
    "PUT GET DEL COMPACT IDENTIFIER SCAN COUNT STATS PAGES PAGE FREELIST CHECK EXPORT IMPORT HELP".split()
)
_WORD = re.compile(r"[A-Z]+")
_PARSE_ERROR = re.compile(r"Error: line \d+, column \d+: ")
_SEPARATOR = ';" "'


def _statement_end(status: str, start: int) -> Optional[int]:
    """Where the ``: `` after a written-back statement starting at ``start`` is, or ``None``
    when no statement starts there."""
    word = _WORD.match(status, start)
    if word is None or word.group() not in _KEYWORDS:
        return None
    i = word.end()
    in_string = False
    while i < len(status):
        c = status[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in ";\n":
            return None
        elif status.startswith(": ", i):
            return i
        i += 1
    return None


def _piece_starts(status: str, at: int) -> bool:
    return _PARSE_ERROR.match(status, at) is not None or _statement_end(status, at) is not None


def split_status(status: str) -> List[Tuple[Optional[str], str]]:
    """``(statement, answer)`` for each statement of an ``/api/execute`` status string, in
    order; the statement is ``None`` for one that did not parse (its answer is the parse error).
    A failed statement's answer starts with ``Error: ``."""
    if status == "":
        return []
    if not (status.startswith('"') and status.endswith(';"')):
        raise ServerError(f"not an /api/execute status string: {status[:80]!r}")
    pieces: List[Tuple[Optional[str], str]] = []
    at = 1
    last = len(status) - 2
    while True:
        statement: Optional[str] = None
        if _PARSE_ERROR.match(status, at):
            answer_at = at
        else:
            end = _statement_end(status, at)
            if end is None:
                raise ServerError(f"not an /api/execute status string: {status[at : at + 80]!r}")
            statement = status[at:end]
            answer_at = end + 2
        search = answer_at
        while True:
            sep = status.find(_SEPARATOR, search, last)
            if sep == -1:
                pieces.append((statement, status[answer_at:last]))
                return pieces
            if _piece_starts(status, sep + len(_SEPARATOR)):
                pieces.append((statement, status[answer_at:sep]))
                at = sep + len(_SEPARATOR)
                break
            search = sep + 1


def succeeded(statement: Optional[str], answer: str) -> bool:
    """Whether a statement did what it asked, judged from its status piece as the original
    client judged it: not an error, and a ``GET`` or ``DEL`` that found its key."""
    if statement is None or answer.startswith("Error: "):
        return False
    if statement.startswith(("GET ", "DEL ")) and answer == "Key not found":
        return False
    return True
