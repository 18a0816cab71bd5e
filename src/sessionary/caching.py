"""A response that hands out a session token is never storable by a shared cache.

A shared cache (a CDN, a reverse proxy, Django's cache middleware) that stores such a
response replays its ``Set-Cookie`` to the next visitor, who then holds the first one's
session. The app's own ``Cache-Control: public, max-age=600`` must not make that
possible, so on those responses the directives that let shared caches store
(``public``, ``s-maxage``) are dropped, ``private`` is added (no shared cache may store
it, RFC 9111 §5.2.2.7), and the headers that speak only to shared caches
(``CDN-Cache-Control``, RFC 9213, and ``Surrogate-Control``) are removed. With no
``Cache-Control`` of the app's, the response gets ``private, no-store``.
"""

from __future__ import annotations

SHARED_ONLY_HEADERS = frozenset({"cdn-cache-control", "surrogate-control"})
"""Headers only shared caches read; they override ``Cache-Control`` for those caches."""
_SHARED_DIRECTIVES = frozenset({"public", "s-maxage", "proxy-revalidate"})
DEFAULT = "private, no-store"


def private_cache_control(values: list[str]) -> str:
    """One ``Cache-Control`` value: the app's ``values`` made unstorable by shared caches."""
    if not values:
        return DEFAULT
    kept = []
    for value in values:
        for directive in value.split(","):
            directive = directive.strip()
            name = directive.split("=", 1)[0].strip().lower()
            if not directive or name in _SHARED_DIRECTIVES:
                continue
            kept.append(directive)
    names = {directive.split("=", 1)[0].strip().lower() for directive in kept}
    if "private" not in names:
        kept.insert(0, "private")
    return ", ".join(kept)


def never_shared(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with their caching rewritten so that no shared cache may store them
    (``Outcome.apply`` does the same in the pass it makes over the headers anyway)."""
    values = []
    result = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cache-control":
            values.append(value)
        elif lowered not in SHARED_ONLY_HEADERS:
            result.append((name, value))
    result.append(("Cache-Control", private_cache_control(values)))
    return result
