#!/usr/bin/env python3
"""Generate the sync code from the async code, so the two can never drift apart.

Every ``_async.py`` under ``src/sessionary`` (a store's async face, the store contract) is
the source of truth; the ``_sync.py`` beside it is written from it by plain token
substitutions (``AsyncBackend`` becomes ``Backend``, ``._async`` ``._sync``), then formatted
and linted (``ruff check --fix``, ``ruff format``) like hand-written code. Run with
``--check`` (CI does) to fail when a generated file is out of date; the first line that
drifted is printed. A substitution that matches nothing in any source fails too: it is
an anchor that no longer holds, and would silently stop applying.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "sessionary"
RUFF = Path(sys.executable).with_name("ruff")

HEADER = "# Generated from the async source by scripts/unasync.py: edit that file, not this one.\n"

# Whole-word substitutions, applied in order.
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\bimport asyncio\b", "import time"),
    (r"\basyncio\.get_running_loop\(\)", "None"),  # sync code runs on no event loop
    (r"\bredis\.asyncio\b", "redis"),
    (r"\bAsyncConnectionPool\b", "ConnectionPool"),
    (r"\bAsyncConnection\b", "Connection"),
    (r"\bAsyncRedisCluster\b", "RedisCluster"),
    (r"\bAsync([A-Z]\w*)\b", r"\1"),
    (r"\b_async\b", "_sync"),
]
_COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in SUBSTITUTIONS]


def pairs() -> list[tuple[Path, Path]]:
    """Each async source (``_async.py``) and the sync file beside it (``_sync.py``)."""
    return [(source, source.with_name("_sync.py")) for source in sorted(PACKAGE.rglob("_async.py"))]


def generated_files() -> list[Path]:
    """Every file the generator owns (a leftover one whose source is gone is stale)."""
    return sorted(PACKAGE.rglob("_sync.py"))


def substitute(text: str, used: list[int]) -> str:
    for index, (pattern, replacement) in enumerate(_COMPILED):
        text, count = pattern.subn(replacement, text)
        used[index] += count
    return HEADER + text


def tidy(text: str, target: Path) -> str:
    """``text`` linted and formatted as ruff would leave a hand-written ``target``. The
    unsafe fixes are the sync idioms of async code (``async for x in y: yield x`` becomes
    ``yield from y``); what ruff cannot fix is reported by ``scripts/check``."""
    name = str(target.relative_to(ROOT))
    for command in (
        [str(RUFF), "check", "--fix", "--unsafe-fixes", "--quiet", "--exit-zero"],
        [str(RUFF), "format", "--quiet"],
    ):
        result = subprocess.run(
            [*command, "--stdin-filename", name, "-"],
            input=text,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"ruff failed on the generated {name}:\n{result.stderr}")
        text = result.stdout
    return text


def first_drift(expected: str, current: str) -> str:
    """Where a generated file on disk differs from what the source gives, in one line."""
    wanted, found = expected.splitlines(), current.splitlines()
    for number, (line, actual) in enumerate(zip(wanted, found, strict=False), start=1):
        if line != actual:
            return f"line {number}: generated {line.strip()!r}, file has {actual.strip()!r}"
    if len(wanted) != len(found):
        return f"line {min(len(wanted), len(found)) + 1}: the file has {len(found)} lines, generated {len(wanted)}"
    return "line endings differ"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    used = [0] * len(_COMPILED)
    stale: list[str] = []
    expected_targets = set()
    for source, target in pairs():
        expected_targets.add(target)
        generated = tidy(substitute(source.read_text(), used), target)
        current = target.read_text() if target.exists() else None
        name = str(target.relative_to(ROOT))
        if current == generated:
            continue
        if current is None:
            stale.append(f"{name}: missing")
        else:
            stale.append(f"{name}: {first_drift(generated, current)}")
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(generated)
    for leftover in generated_files():
        if leftover not in expected_targets:
            stale.append(f"{leftover.relative_to(ROOT)}: no async source")
            if not check:
                leftover.unlink()
    unused = [pattern for (pattern, _), count in zip(SUBSTITUTIONS, used, strict=True) if count == 0]
    if unused:
        print("substitutions that match nothing (remove them or fix the source):", *unused, sep="\n  ")
        return 1
    if check and stale:
        print("out of date (run scripts/unasync.py):", *stale, sep="\n  ")
        return 1
    if not check:
        for entry in stale:
            print("wrote", entry.split(":")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
