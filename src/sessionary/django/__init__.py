"""Django integration: ``SESSION_ENGINE = "sessionary.django"``.

Django's sessions, unchanged for every view, kept in any sessionary store
(``SESSIONARY_STORE``), with sessionary's additions: a per-user index (devices, "log out
everywhere"), idle and absolute timeouts, a session limit, batched ``clearsessions``.
Add ``"sessionary.django"`` to ``INSTALLED_APPS`` for the management commands, the
devices page and the start-up checks. See docs/django.md.
"""

from __future__ import annotations

from .conf import get_manager
from .store import SessionStore

__all__ = ["SessionStore", "get_manager"]
