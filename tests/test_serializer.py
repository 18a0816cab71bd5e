"""Stored JSON text back to values: sessionary.serializer.decode_value takes json.loads'
answer, value or error, for every text, while scanning sessionary's own text directly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sessionary.serializer import copy_value, decode_value

TEXTS: list[str | bytes] = [
    "1",
    '"a"',
    '{"a":[1,{"b":null}],"c":true}',
    "1.5e3",
    "NaN",
    '"\\ud800"',
    " 1",
    "1 ",
    "\n{}\n",
    "",
    "x",
    '{"a":1}x',
    '{"a":1}{"b":2}',
    "[1,",
    "\ufeff1",
    b'{"a":1}',
    b"",
]


def answer(decode: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        return "value", decode(text)
    except ValueError as exc:
        return "error", (type(exc), str(exc))


@pytest.mark.parametrize("text", TEXTS, ids=repr)
def test_decode_value_answers_as_json_loads(text: str | bytes) -> None:
    assert answer(decode_value, text) == answer(json.loads, text)


def test_deep_nesting_raises_recursion_error_as_json_loads_does() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(text)
    with pytest.raises(RecursionError):
        decode_value(text)


def test_copy_value_shares_nothing_mutable() -> None:
    value = {"a": [1, {"b": [2]}], "s": "text", "n": None}
    copied = copy_value(value)
    assert copied == value
    assert copied is not value
    assert copied["a"] is not value["a"] and copied["a"][1] is not value["a"][1]
    assert copied["a"][1]["b"] is not value["a"][1]["b"]
    assert copied["s"] is value["s"]  # strings are immutable: kept as they are
