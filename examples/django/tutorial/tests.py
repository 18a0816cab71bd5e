"""The tutorial's flow through Django's test client (``manage.py test tutorial``)."""

from datetime import timedelta
from unittest import mock

from django.test import TestCase, override_settings
from django.utils import timezone

from sessionary.django import get_manager


@override_settings(SESSIONARY_STORE="memory://")
class TutorialFlow(TestCase):
    def later(self, seconds: float) -> mock._patch:  # type: ignore[type-arg]
        """Django's clock, moved ``seconds`` ahead."""
        moment = timezone.now() + timedelta(seconds=seconds)
        return mock.patch.object(timezone, "now", return_value=moment)

    def test_short_session(self) -> None:
        response = self.client.get("/set-short-session")
        assert response.content == b"Session set for 10 seconds"
        assert response.cookies["sessionid"]["max-age"] == 10
        assert self.client.get("/check-session").content == b"User in session: Alice"
        with self.later(9):
            assert self.client.get("/check-session").content == b"User in session: Alice"
        with self.later(11):
            assert self.client.get("/check-session").content == b"User in session: No session"

    def test_no_session(self) -> None:
        assert self.client.get("/check-session").content == b"User in session: No session"

    def test_login_for_five_minutes_then_logout(self) -> None:
        self.assertContains(self.client.get("/"), "Sign in")
        response = self.client.post("/login/", {"username": "alice", "password": "wonderland"})
        self.assertRedirects(response, "/")
        assert response.cookies["sessionid"]["max-age"] == 300
        self.assertContains(self.client.get("/"), "Signed in as <strong>alice</strong>")
        assert len(get_manager().list_sessions(self.client.session["_auth_user_id"])) == 1
        self.assertContains(self.client.get("/account/sessions/"), "This session")
        with self.later(301):
            self.assertContains(self.client.get("/"), "Sign in")
        self.client.post("/login/", {"username": "alice", "password": "wonderland"})
        self.client.post("/logout/")
        self.assertContains(self.client.get("/"), "Sign in")

    def test_wrong_password(self) -> None:
        response = self.client.post("/login/", {"username": "alice", "password": "nope"})
        self.assertContains(response, "Wrong username or password.")
