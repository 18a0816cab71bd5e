"""The "your devices" page: a signed-in user's sessions, with buttons to end them.

Include it in a project's urls (``path("account/sessions/", include("sessionary.django.urls"))``)
and override the template ``sessionary/devices.html`` to match the site. Every change is
a POST protected by CSRF, and only ever touches the signed-in user's own sessions.
"""

from __future__ import annotations

from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from .users import current_handle, list_devices, revoke_device, revoke_other_devices

TEMPLATE = "sessionary/devices.html"


@require_GET
@login_required
def devices(request: HttpRequest, template_name: str = TEMPLATE) -> HttpResponse:
    return render(request, template_name, {"devices": list_devices(request)})


@require_POST
@csrf_protect
@login_required
def revoke(request: HttpRequest) -> HttpResponse:
    """End the session named by the ``session`` field; ending this one logs out."""
    handle = request.POST.get("session", "")
    if handle and handle == current_handle(request):
        auth.logout(request)
        return HttpResponseRedirect(reverse("sessionary:devices"))
    if revoke_device(request, handle):
        _note(request, "The session was ended.")
    else:
        _note(request, "That session had already ended.")
    return HttpResponseRedirect(reverse("sessionary:devices"))


@require_POST
@csrf_protect
@login_required
def revoke_others(request: HttpRequest) -> HttpResponse:
    """Log out everywhere else."""
    count = revoke_other_devices(request)
    _note(request, f"Signed out of {count} other session{'s' if count != 1 else ''}.")
    return HttpResponseRedirect(reverse("sessionary:devices"))


def _note(request: HttpRequest, text: str) -> None:
    """A flash message when the messages framework is installed (silently none otherwise)."""
    messages.info(request, text, fail_silently=True)
