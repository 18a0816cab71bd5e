"""``path("account/sessions/", include("sessionary.django.urls"))``: the devices page."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "sessionary"

urlpatterns = [
    path("", views.devices, name="devices"),
    path("revoke/", views.revoke, name="revoke"),
    path("revoke-others/", views.revoke_others, name="revoke-others"),
]
