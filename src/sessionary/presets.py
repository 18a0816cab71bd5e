"""Named sets of settings for a required assurance level, so an app need not work them out.

``presets.config("nist-aal2")`` is a :class:`~sessionary.config.Config` whose timeouts are
those NIST SP 800-63B-4 §5.2 sets for that level (and ASVS 5 V7.3 asks to be decided),
with the defences that cost the user nothing switched on: a ``__Host-`` cookie
required (ASVS 5 V3.3.1), token renewal and stolen-cookie detection. Any setting can be
overridden: ``presets.config("nist-aal2", idle_timeout=1800)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .config import Config
from .errors import ConfigError

_HARDENED: dict[str, Any] = {"cookie_host_prefix": True, "detect_token_reuse": True}

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        # AAL1: reauthentication at least every 30 days; no inactivity limit required.
        "nist-aal1": MappingProxyType(
            {**_HARDENED, "absolute_timeout": 30 * 24 * 3600, "cookie_age": 30 * 24 * 3600}
        ),
        # AAL2: every 24 hours, and after 1 hour of inactivity; the cookie ends with the browser.
        "nist-aal2": MappingProxyType(
            {
                **_HARDENED,
                "idle_timeout": 3600,
                "absolute_timeout": 24 * 3600,
                "expire_at_browser_close": True,
                "browser_close_timeout": 24 * 3600,
                "renewal_timeout": 15 * 60,
            }
        ),
        # AAL3: every 12 hours, and after 15 minutes of inactivity.
        "nist-aal3": MappingProxyType(
            {
                **_HARDENED,
                "idle_timeout": 15 * 60,
                "absolute_timeout": 12 * 3600,
                "expire_at_browser_close": True,
                "browser_close_timeout": 12 * 3600,
                "renewal_timeout": 5 * 60,
                "cookie_samesite": "Strict",
            }
        ),
    }
)


def settings(name: str) -> dict[str, Any]:
    """The settings of preset ``name`` (a copy), for ``SessionManager(store, **settings)``."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError("preset", f"{name!r} is not a preset (known: {known})") from None


def config(name: str, **overrides: Any) -> Config:
    """A :class:`Config` of preset ``name``, with ``overrides`` on top, validated as usual."""
    return Config(**{**settings(name), **overrides})
