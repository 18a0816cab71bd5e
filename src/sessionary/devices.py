"""A user's sessions as the user sees them: "your devices"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .clock import from_timestamp
from .stores.base import Summary
from .tokens import handle


@dataclass(frozen=True, slots=True)
class Device:
    """One live session of a user. ``handle`` names it for :meth:`SessionManager.revoke`."""

    handle: str
    created_at: datetime
    last_seen: datetime
    expires_at: datetime
    signed_in_at: datetime | None
    ip: str | None
    user_agent: str | None
    current: bool


def device(summary: Summary, *, current_key: bytes | None) -> Device:
    meta = summary.meta
    return Device(
        handle=handle(summary.key),
        created_at=from_timestamp(meta.created_at),
        last_seen=from_timestamp(meta.last_seen),
        expires_at=from_timestamp(summary.expires_at),
        signed_in_at=None if meta.auth_at is None else from_timestamp(meta.auth_at),
        ip=meta.ip,
        user_agent=meta.user_agent,
        current=summary.key == current_key,
    )


def by_recency(devices: list[Device]) -> list[Device]:
    """The current session first, then the most recently active."""
    return sorted(devices, key=lambda d: (not d.current, -d.last_seen.timestamp()))


def table(devices: list[Device]) -> list[str]:
    """The devices as aligned text lines, for the command line and management commands."""
    rows = [("HANDLE", "SIGNED IN", "LAST SEEN", "EXPIRES", "IP", "USER AGENT")]
    rows += [
        (
            d.handle,
            _when(d.signed_in_at),
            _when(d.last_seen),
            _when(d.expires_at),
            d.ip or "-",
            (d.user_agent or "-")[:40],
        )
        for d in devices
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")
