"""Helpers for testing apps that use sessionary: a clock you can move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that stands still until told to move.

    ``SessionManager(store, clock=FakeClock())`` makes every expiry and timeout rule,
    and every store deadline, follow this clock. It starts at the real time (whole
    seconds) unless given ``start``: a store that also expires keys by its own clock
    (Redis) would drop at once every session whose deadline the fake clock put in the
    past.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC).replace(microsecond=0)
        if self.current.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (or ``timedelta`` keywords); returns the new time."""
        self.current += timedelta(seconds=seconds, **delta)
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment
