"""An :class:`~sessionary.lifecycle.Outcome` onto a framework's response object.

Frameworks that keep their response headers in an object with "set" (replace) and
"add" (append) methods, rather than as a list of pairs, get the outcome's headers
through :func:`headers_to_send`: the outcome decides the values (``Vary`` merged with
the app's, ``Cache-Control`` only where the app set none), the adapter only stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..lifecycle import Outcome


def headers_to_send(outcome: Outcome, existing: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers ``outcome`` adds to or changes in a response that has ``existing``."""
    if outcome.changes_nothing:
        return []
    before = list(existing)
    return [header for header in outcome.apply(before) if header not in before]


def apply_outcome(
    outcome: Outcome,
    existing: Iterable[tuple[str, str]],
    set_header: Callable[[str, str], object],
    add_header: Callable[[str, str], object],
) -> None:
    """Store the outcome's headers: ``Set-Cookie`` is added beside the app's own cookies,
    every other header replaces the app's value (``Vary`` arrives already merged)."""
    for name, value in headers_to_send(outcome, existing):
        if name.lower() == "set-cookie":
            add_header(name, value)
        else:
            set_header(name, value)
