"""How session values become stored text: JSON, one value at a time, never pickle.

Each changed key is encoded on its own when a session is saved, so an error names the
key, and a save can write just the keys that changed. The JSON is the same compact form
Django's ``JSONSerializer`` produces, so values round-trip the same way (tuples come back
as lists, non-string dict keys as strings).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import SessionValueError

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ascii_encoder = json.JSONEncoder(separators=(",", ":"))


def encode_value(key: str, value: Any, *, max_bytes: int | None = None) -> str:
    """The JSON text of ``value``; raises :class:`SessionValueError` naming ``key``."""
    try:
        text = _encoder.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SessionValueError(
            key, f"value of type {type(value).__name__} cannot be stored as JSON ({exc})"
        ) from None
    # Encoding is needed only for text that is not ASCII (a lone surrogate such as
    # "\ud800", which any JSON request body can carry, has no UTF-8 form) or that could
    # be too long: UTF-8 takes 1 to 4 bytes a character.
    if not text.isascii():
        size = utf8_size(key, text, "value")
    elif max_bytes is not None and len(text) > max_bytes:
        size = len(text)
    else:
        return text
    if max_bytes is not None and size > max_bytes:
        raise SessionValueError(
            key, f"value is {size} bytes as JSON, over the configured limit of {max_bytes}"
        )
    return text


def utf8_size(key: str, text: str, what: str) -> int:
    """Bytes of ``text`` in UTF-8; raises :class:`SessionValueError` naming ``key`` when
    ``text`` holds a lone surrogate, which no store (nor UTF-8) can keep."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise SessionValueError(
            key,
            f"{what} holds the lone surrogate {text[exc.start]!r}, which UTF-8 cannot store "
            "(pair it or replace it before storing)",
        ) from None


_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner ``json.loads`` runs, without the Python around it (a type check, two
whitespace regexes, the decoder's wrappers): a fifth of decoding a small record."""


def decode_value(text: str | bytes) -> Any:
    """A value (or a whole stored mapping) back from its JSON text; raises ValueError.

    Text as sessionary writes it (no surrounding whitespace) is scanned directly; all
    else, and every error, is left to ``json.loads``, so what is accepted and what is
    raised are exactly its own.
    """
    if type(text) is str and text and text[0] not in _NOT_SCANNED:
        try:
            value, end = _scan(text, 0)
        except (StopIteration, ValueError):
            pass  # json.loads raises its own error below
        else:
            if end == len(text):
                return value
    return json.loads(text)


_NOT_SCANNED = frozenset(" \t\n\r\ufeff")
"""What json.loads skips (whitespace) or refuses (a byte order mark) at the start."""


def copy_value(value: Any) -> Any:
    """A copy of a decoded value that shares nothing mutable with it (JSON gives only
    lists and dicts to copy; strings, numbers, booleans and None are kept as they are)."""
    kind = type(value)
    if kind is list:
        return [copy_value(item) for item in value]
    if kind is dict:
        return {name: copy_value(item) for name, item in value.items()}
    return value


def encode_stored(value: Any) -> str:
    """The JSON text of a value that was stored before (already checked by
    :func:`encode_value`), in the one form every store writes."""
    return _encoder.encode(value)


def same_value(stored: str | None, expected: str | None) -> bool:
    """Whether the JSON text ``stored`` holds the value ``expected`` (None: no value), as
    sessionary encodes values: two texts of one value (``"\\u00e9"`` and ``"é"``) are the
    same. Raises ValueError when ``stored`` is not JSON."""
    if stored is None or expected is None:
        return stored is expected
    if stored == expected:
        return True
    try:
        return bool(_encoder.encode(json.loads(stored)) == expected)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def encode_mapping(mapping: dict[str, Any]) -> str:
    """A whole mapping as one JSON object (for stores that keep one document)."""
    return _encoder.encode(mapping)


def encode_ascii(value: Any) -> str:
    """Compact JSON with every non-ASCII character escaped: session metadata as stores
    keep it, and data handed to a Django serializer that reads its input as latin-1."""
    return _ascii_encoder.encode(value)


def session_key_name(key: object) -> str:
    """The string a session key is stored under, following JSON's rules for object keys.

    Django's JSON serializer turns ``1`` into ``"1"`` and ``None`` into ``"null"`` on the
    way through the store; doing the same here keeps per-key storage identical.
    """
    if isinstance(key, str):
        if not key.isascii():
            utf8_size(key, key, "the key")
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise SessionValueError(repr(key), f"session keys must be strings, not {type(key).__name__}")
