"""How keys, values and answers travel: bytes and text, base64, and the ``status`` string of
``/api/execute``."""

from __future__ import annotations

import base64
import binascii
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
# `/api/execute` answers, as the original server did, one string for a whole script. The server
# cuts the script into pieces at every `;` outside a string literal or a `--` comment (the text
# after the last `;` is a piece too; an empty piece or a single space is skipped), runs each,
# and answers `"<piece>: <answer>;"` for each, joined by single spaces: `"` + piece + `: ` +
# answer + `;" "` + ... + `;"`. The piece is echoed as written, whitespace included; one that
# is not a statement answers `Error: Unknown command`. The client knows its own script, so it
# cuts it the same way and finds each piece's answer between its own text and the next one's.

_SEPARATOR = ';" "'


def split_script(script: str) -> List[str]:
    """The pieces the server cuts ``script`` into, in order (see above)."""
    pieces: List[str] = []
    start = 0
    in_string = in_comment = False
    i = 0
    while i < len(script):
        c = script[i]
        if in_comment:
            in_comment = c != "\n"
        elif in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "-" and script.startswith("--", i):
            in_comment = True
        elif c == ";":
            pieces.append(script[start:i])
            start = i + 1
        i += 1
    pieces.append(script[start:])
    return [p for p in pieces if p not in ("", " ")]


def split_status(status: str, script: str) -> List[Tuple[Optional[str], str]]:
    """``(statement, answer)`` for each piece of ``script`` that holds a statement, in order,
    from the ``/api/execute`` status string the server answered for it. The statement is the
    piece without its surrounding whitespace; a piece of whitespace alone (the text after the
    last ``;``, typically) is left out. A failed statement's answer starts with ``Error: ``."""
    pieces = split_script(script)
    if not pieces and status == "":
        return []
    if not (status.startswith('"') and status.endswith(';"')):
        raise ServerError(f"not an /api/execute status string: {status[:80]!r}")
    last = len(status) - 2
    answers: List[Tuple[Optional[str], str]] = []
    at = 1
    for n, piece in enumerate(pieces):
        head = piece + ": "
        if not status.startswith(head, at):
            raise ServerError(f"the /api/execute status does not answer {piece.strip()[:60]!r}")
        answer_at = at + len(head)
        if n + 1 < len(pieces):
            sep = status.find(_SEPARATOR + pieces[n + 1] + ": ", answer_at)
        else:
            sep = -1
        # The server stops early only when its answer is over its size limit: the rest of the
        # status is then this piece's answer.
        end = last if sep == -1 or sep > last else sep
        if piece.strip():
            answers.append((piece.strip(), status[answer_at:end]))
        if end == last:
            break
        at = end + len(_SEPARATOR)
    return answers


def succeeded(statement: Optional[str], answer: str) -> bool:
    """Whether a statement did what it asked, judged from its status piece as the original
    client judged it: not an error, and a ``GET`` or ``DEL`` that found its key."""
    if statement is None or answer.startswith("Error: "):
        return False
    if statement.startswith(("GET ", "DEL ")) and answer == "Key not found":
        return False
    return True
