"""Helpers for testing apps that use sessionary: a clock you can move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that stands still until told to move.

    ``SessionManager(store, clock=FakeClock())`` makes every expiry and timeout rule,
    and every store deadline, follow this clock.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
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
