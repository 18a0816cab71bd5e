"""``manage.py sessionary_import``: copy Django's stored sessions into the sessionary store."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import get_manager
from ...importer import DJANGO_DB_ENGINE, ImportFailed, import_sessions


class Command(BaseCommand):
    help = (
        "Copy the unexpired rows of django_session (or another db-backed engine's table) into "
        "SESSIONARY_STORE, so signed-in users stay signed in after switching SESSION_ENGINE."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--engine",
            default=DJANGO_DB_ENGINE,
            help="the engine that wrote the sessions (default %(default)s; cached_db works too)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, but write nothing")
        parser.add_argument("--batch-size", type=int, default=500, help="rows read at a time")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        manager = get_manager()
        try:
            report = import_sessions(
                options["engine"], dry_run=options["dry_run"], batch_size=options["batch_size"]
            )
        except ImportFailed as exc:
            raise CommandError(str(exc)) from None
        verb = "Would import" if options["dry_run"] else "Imported"
        self.stdout.write(
            f"{verb} {report.imported} sessions into {manager.store.name}; "
            f"{report.present} were there already, {report.empty} empty or unreadable, "
            f"{report.odd_keys} with keys Django does not issue."
        )
        if not manager.config.accept_django_keys:
            self.stderr.write(
                "Set SESSIONARY_ACCEPT_DJANGO_KEYS = True: until then the imported sessions' "
                "32-character keys are not looked up, and their users are signed out."
            )
