"""Tornado specifics, through Tornado's own AsyncHTTPTestCase: ``self.session`` and
``await self.get_session()``, the save before ``finish()`` (redirects, the handler's own
cookies, error pages), synchronous handlers, and a session ended mid-request."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application, HTTPError, RequestHandler

from sessionary import alogin
from sessionary.integrations.tornado import SessionMixin, get_manager, setup

from .conftest import store_url_for
from .cookies import session_cookie


class Write(SessionMixin, RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        session["counter"] = session.get("counter", 0) + 1
        self.write(str(session["counter"]))


class Read(SessionMixin, RequestHandler):
    def get(self) -> None:  # a synchronous handler: self.session loads on first use
        self.write(str(self.session.get("counter")))


class Untouched(SessionMixin, RequestHandler):
    def get(self) -> None:
        self.write("ok")


class Redirect(SessionMixin, RequestHandler):
    async def get(self) -> None:
        await self.session.aset("message", "works")
        self.set_cookie("theme", "dark")
        self.redirect("/read")


class Fails(SessionMixin, RequestHandler):
    async def get(self) -> None:
        await self.session.aset("counter", 99)
        raise RuntimeError("the view broke")


class NotFound(SessionMixin, RequestHandler):
    async def get(self) -> None:
        await self.session.aset("counter", 404)
        raise HTTPError(404)


class Unstorable(SessionMixin, RequestHandler):
    async def get(self) -> None:
        await self.session.aset("tags", {"a", "set"})  # not JSON: refused at the save
        self.write("ok")


class Flushed(SessionMixin, RequestHandler):
    async def get(self) -> None:
        await self.session.aload()
        self.write("streamed")
        await self.flush()
        self.session["late"] = "change"


class Login(SessionMixin, RequestHandler):
    async def post(self, user_id: str) -> None:
        await alogin(await self.get_session(), user_id)
        self.write("in")


class SignedOutElsewhere(SessionMixin, RequestHandler):
    async def post(self, user_id: str) -> None:
        session = await self.get_session()
        assert session.handle is not None
        assert await self.session_manager.arevoke(user_id, session.handle)
        session["late"] = "write"  # must not bring the ended session back
        self.write("ok")


class TornadoCase(AsyncHTTPTestCase):
    store_kind: ClassVar[str] = "sqlite"

    def setUp(self) -> None:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory()
        self.store_url = store_url_for(self.store_kind, Path(self._tmp.name))
        super().setUp()
        self.token: str | None = None
        self.user_id = f"user-{id(self)}-{self.store_kind}"

    def tearDown(self) -> None:
        self.io_loop.run_sync(self.manager.aclose)  # on the loop its async connections use
        super().tearDown()
        self.manager.close()
        self._tmp.cleanup()

    def get_app(self) -> Application:
        app = Application(
            [
                (r"/write", Write),
                (r"/read", Read),
                (r"/untouched", Untouched),
                (r"/redirect", Redirect),
                (r"/fails", Fails),
                (r"/not-found", NotFound),
                (r"/unstorable", Unstorable),
                (r"/flushed", Flushed),
                (r"/login/(.+)", Login),
                (r"/signed-out-elsewhere/(.+)", SignedOutElsewhere),
            ]
        )
        self.manager = setup(app, store=self.store_url)
        return app

    def send(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        headers = {"Cookie": f"__Host-sessionid={self.token}"} if self.token else {}
        if method == "POST":
            kwargs.setdefault("body", "")
        response = self.fetch(path, method=method, headers=headers, follow_redirects=False, **kwargs)
        cookie = session_cookie(response.headers.get_list("Set-Cookie"), "__Host-sessionid")
        if cookie is not None:
            self.token = None if cookie.deletes else cookie.value
        return response

    def test_the_session_is_saved_and_read_back(self) -> None:
        assert self.send("/write").body == b"1"
        assert self.token is not None
        assert self.send("/write").body == b"2"
        assert self.send("/read").body == b"2"

    def test_an_untouched_handler_sets_no_cookie(self) -> None:
        self.send("/write")
        response = self.send("/untouched")
        assert response.headers.get_list("Set-Cookie") == []
        assert "Vary" not in response.headers

    def test_a_redirect_carries_the_session_and_the_handlers_own_cookies(self) -> None:
        response = self.send("/redirect")
        assert response.code == 302
        names = {value.split("=", 1)[0] for value in response.headers.get_list("Set-Cookie")}
        assert names == {"__Host-sessionid", "theme"}

    def test_an_exception_in_the_handler_saves_nothing(self) -> None:
        self.send("/write")
        response = self.send("/fails")
        assert response.code == 500
        assert response.headers.get_list("Set-Cookie") == []
        assert self.send("/read").body == b"1"

    def test_an_error_page_below_500_still_saves_as_django_does(self) -> None:
        self.send("/write")
        assert self.send("/not-found").code == 404
        assert self.send("/read").body == b"404"

    def test_a_value_that_cannot_be_stored_answers_500_and_the_request_ends(self) -> None:
        self.send("/write")
        response = self.send("/unstorable")
        assert response.code == 500
        assert response.headers.get_list("Set-Cookie") == []
        assert self.send("/read").body == b"1"

    def test_a_change_after_flush_is_not_saved_and_says_so(self) -> None:
        self.send("/write")
        with self.assertLogs("sessionary", "ERROR") as logged:
            response = self.send("/flushed")
        assert response.body == b"streamed"
        assert "not saved" in logged.output[0]
        assert self.send("/read").body == b"1"

    def test_a_session_ended_during_the_request_answers_400(self) -> None:
        self.send(f"/login/{self.user_id}", method="POST")
        response = self.send(f"/signed-out-elsewhere/{self.user_id}", method="POST")
        assert response.code == 400
        assert response.headers.get_list("Set-Cookie") == []
        assert self.manager.list_sessions(self.user_id) == []


class TestTornadoOnSQLite(TornadoCase):
    store_kind = "sqlite"


class TestTornadoOnRedis(TornadoCase):
    store_kind = "redis"


del TornadoCase  # only the store-bound subclasses run


def test_get_manager_without_setup_names_the_fix() -> None:
    import pytest

    with pytest.raises(RuntimeError, match=r"setup\(app\)"):
        get_manager(Application())
