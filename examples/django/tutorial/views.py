"""The tutorial's views, unchanged: nothing here knows sessions are kept by sessionary."""

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tutorial/home.html")


def set_short_session(request: HttpRequest) -> HttpResponse:
    # Set session to expire after 10 seconds
    request.session.set_expiry(10)
    request.session["user"] = "Alice"
    return HttpResponse("Session set for 10 seconds")


def check_session(request: HttpRequest) -> HttpResponse:
    user = request.session.get("user", "No session")
    return HttpResponse(f"User in session: {user}")


def login_view(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        user = authenticate(
            request, username=request.POST.get("username"), password=request.POST.get("password")
        )
        if user is not None:
            login(request, user)
            request.session.set_expiry(300)  # 5 minutes
            return HttpResponseRedirect("/")
        error = "Wrong username or password."
    return render(request, "tutorial/login.html", {"error": error})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect("/")
