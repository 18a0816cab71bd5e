"""``manage.py sessionary_sessions USER``: list a user's sessions, or end them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import get_manager


class Command(BaseCommand):
    help = "List a user's live sessions (by user id, or --username), or end one or all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="the user's id (primary key), or username with --username")
        parser.add_argument("--username", action="store_true", help="USER is a username, not an id")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--revoke", metavar="HANDLE", help="end the session with this handle")
        which.add_argument("--revoke-all", action="store_true", help="end every session of the user")

    def handle(self, *args: Any, **options: Any) -> None:
        user_id = self._user_id(options["user"], by_username=options["username"])
        manager = get_manager()
        if options["revoke_all"]:
            count = manager.revoke_all(user_id)
            self.stdout.write(f"Ended {count} sessions of user {user_id}; any other is refused from now on.")
            return
        if options["revoke"]:
            if not manager.revoke(user_id, options["revoke"]):
                raise CommandError(f"user {user_id} has no live session {options['revoke']}")
            self.stdout.write(f"Ended session {options['revoke']} of user {user_id}.")
            return
        devices = manager.list_sessions(user_id)
        if not devices:
            self.stdout.write(f"User {user_id} has no live sessions.")
            return
        rows = [("HANDLE", "SIGNED IN", "LAST SEEN", "EXPIRES", "IP", "USER AGENT")]
        for device in devices:
            rows.append(
                (
                    device.handle,
                    _when(device.signed_in_at),
                    _when(device.last_seen),
                    _when(device.expires_at),
                    device.ip or "-",
                    (device.user_agent or "-")[:40],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )

    def _user_id(self, value: str, *, by_username: bool) -> str:
        if not by_username:
            return value
        model = get_user_model()
        try:
            user = model._default_manager.get(**{getattr(model, "USERNAME_FIELD", "username"): value})
        except model.DoesNotExist:
            raise CommandError(f"no user with username {value!r}") from None
        return str(user._meta.pk.value_to_string(user))


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")
