#!/usr/bin/env python3
"""Generate the sync code from the async code, so the two can never drift apart.

``src/sessionary/_async/*.py`` is the source of truth; ``src/sessionary/_sync/*.py`` is
written from it by plain token substitutions. Run with ``--check`` (CI does) to fail when
the generated files are out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "sessionary" / "_async"
TARGET = ROOT / "src" / "sessionary" / "_sync"

HEADER = "# Generated from sessionary/_async by scripts/unasync.py: edit the async source, not this file.\n"

# Whole-word substitutions, applied in order.
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\baclose\b", "close"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncIterable\b", "Iterable"),
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\bAsyncContextManager\b", "ContextManager"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\bimport asyncio\b", "import time"),
    (r"\basyncio\.get_running_loop\(\)", "None"),  # sync code runs on no event loop
    (r"\bredis\.asyncio\b", "redis"),
    (r"\bpsycopg_pool\.AsyncConnectionPool\b", "psycopg_pool.ConnectionPool"),
    (r"\bAsyncConnectionPool\b", "ConnectionPool"),
    (r"\bAsyncConnection\b", "Connection"),
    (r"\bAsyncCursor\b", "Cursor"),
    (r"\bAsyncRedisCluster\b", "RedisCluster"),
    (r"\bAsync([A-Z]\w*)\b", r"\1"),
    (r"\b_async\b", "_sync"),
    (r"\b_adata\b", "_data"),
    (r"\b_aget_(\w+)", r"_get_\1"),
    (r"\.aio\b", ".sync"),
]
_COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in SUBSTITUTIONS]


def unasync_text(text: str) -> str:
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return HEADER + text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale: list[str] = []
    expected_names = set()
    for source in sorted(SOURCE.glob("*.py")):
        target = TARGET / source.name
        expected_names.add(source.name)
        generated = unasync_text(source.read_text())
        current = target.read_text() if target.exists() else None
        if current != generated:
            stale.append(str(target.relative_to(ROOT)))
            if not check:
                TARGET.mkdir(parents=True, exist_ok=True)
                target.write_text(generated)
    for leftover in sorted(TARGET.glob("*.py")):
        if leftover.name not in expected_names:
            stale.append(str(leftover.relative_to(ROOT)))
            if not check:
                leftover.unlink()
    if check and stale:
        print("out of date (run scripts/unasync.py):", *stale, sep="\n  ")
        return 1
    if not check:
        for name in stale:
            print("wrote", name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
