"""The shared behaviour (behaviour.py: cookies and flags, expiry, rotation, logout,
replay, the cookie and memory stores, no store call for untouched requests, 503 / 400)
on Quart, aiohttp, Tornado and Sanic, each through its own test client (async_clients)."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from sessionary import SessionManager

from .async_clients import async_sender
from .behaviour import Behaviour, Serve
from .behaviour_apps import BUILDERS
from .frameworks import Browser, Send


class AsyncBehaviour(Behaviour):
    framework = ""

    @pytest.fixture
    def serve(self, exit_stack: ExitStack) -> Serve:
        """One app (and one event loop) per manager; browsers on it share its sender."""
        senders: dict[int, Send] = {}

        def serve(manager: SessionManager) -> Browser:
            if id(manager) not in senders:
                app = BUILDERS[self.framework](manager)
                senders[id(manager)] = async_sender(self.framework, app, exit_stack)
            return Browser(senders[id(manager)])

        return serve


class TestQuart(AsyncBehaviour):
    framework = "quart"
    preloads = True


class TestAiohttp(AsyncBehaviour):
    framework = "aiohttp"


class TestTornado(AsyncBehaviour):
    framework = "tornado"


class TestSanic(AsyncBehaviour):
    framework = "sanic"
    preloads = True


del AsyncBehaviour
