"""``sessionary.django.middleware.SessionMiddleware``: Django's own ``SessionMiddleware``,
and a response that sets (or deletes) the session cookie is never storable by a shared
cache.

Put it in ``MIDDLEWARE`` where ``django.contrib.sessions.middleware.SessionMiddleware``
was. Django's middleware saves the session and writes the cookie exactly as before;
then, on a response carrying the session cookie, the app's ``Cache-Control: public,
max-age=600`` becomes ``private, max-age=600`` and ``CDN-Cache-Control`` /
``Surrogate-Control`` go, by the rule every sessionary adapter applies
(:mod:`sessionary.caching`). A session engine never sees the response, so this cannot
come with ``SESSION_ENGINE`` alone; ``manage.py check`` warns (``sessionary.W001``)
while the engine runs under Django's plain middleware.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from .. import caching


class SessionMiddleware(DjangoSessionMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response = super().process_response(request, response)
        if settings.SESSION_COOKIE_NAME in response.cookies:
            never_shared(response)
        return response


def never_shared(response: HttpResponseBase) -> None:
    """Rewrite ``response``'s caching headers so that no shared cache may store it."""
    caching_headers = [
        (name, value)
        for name, value in response.items()
        if name.lower() == "cache-control" or name.lower() in caching.SHARED_ONLY_HEADERS
    ]
    for name, _ in caching_headers:
        del response[name]
    for name, value in caching.never_shared(caching_headers):
        response[name] = value


__all__ = ["SessionMiddleware", "never_shared"]
