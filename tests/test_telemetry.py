"""OpenTelemetry metrics and traces, read back with the SDK's in-memory reader and exporter.

Sessions go through the real request cycle (the manager's API and Starlette's test
client) on real stores; what the SDK collected is then checked name by name, and every
attribute of every measurement is searched for tokens, store keys, their hashes and
user ids.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sessionary import SessionManager, SessionMiddleware
from sessionary.auth import login
from sessionary.cleanup_scheduler import CleanupRun
from sessionary.errors import ConfigError, StoreUnavailable
from sessionary.events import Event
from sessionary.stores import Store
from sessionary.telemetry import SESSION_COUNTERS, db_system, instrument
from sessionary.testing import FakeClock
from sessionary.tokens import log_id, store_key
from support.services import free_port, require_module


class Collected:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.exporter = InMemorySpanExporter()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.tracers = TracerProvider()
        self.tracers.add_span_processor(SimpleSpanProcessor(self.exporter))

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **attributes: str) -> int:
        return sum(
            int(p.value)
            for p in self.points(name)
            if all(p.attributes.get(k.replace("_", ".")) == v for k, v in attributes.items())
        )

    def metric_names(self) -> set[str]:
        data = self.reader.get_metrics_data()
        return {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def every_attribute_value(self) -> list[str]:
        data = self.reader.get_metrics_data()
        values = [
            str(value)
            for r in data.resource_metrics
            for s in r.scope_metrics
            for m in s.metrics
            for p in m.data.data_points
            for value in p.attributes.values()
        ]
        values += [str(v) for span in self.spans() for v in (span.attributes or {}).values()]
        values += [span.name for span in self.spans()]
        return values


@pytest.fixture
def collected() -> Iterator[Collected]:
    found = Collected()
    yield found
    found.meters.shutdown()
    found.tracers.shutdown()


def measured(collected: Collected, url: str, **settings: Any) -> SessionManager:
    manager = SessionManager(url, cleanup_interval=None, **settings)
    instrument(manager, meter_provider=collected.meters, tracer_provider=collected.tracers)
    return manager


def request(manager: SessionManager, token: str | None, **changes: Any) -> str | None:
    session = manager.open(None if token is None else f"__Host-sessionid={token}")
    for name, value in changes.items():
        session[name] = value
    session.get("x")
    manager.close_session(session, 200)
    return session.session_key


def test_every_session_event_is_counted(tmp_path: Path, collected: Collected) -> None:
    clock = FakeClock()
    url = f"sqlite:///{tmp_path}/s.db"
    events: list[Event] = []
    manager = SessionManager(
        url, clock=clock, idle_timeout=600, renewal_timeout=120, cleanup_interval=None, on_event=events.append
    )
    instrument(manager, meter_provider=collected.meters, tracer_provider=collected.tracers)
    token = request(manager, None, cart=["book"])  # created
    assert token is not None
    request(manager, token)  # loaded
    request(manager, token, cart=["book", "pen"])  # loaded, saved
    session = manager.open(f"__Host-sessionid={token}")
    login(session, "alice")  # loaded, rotated, then saved (the user id, the sign-in time)
    manager.close_session(session, 200)
    signed_in = session.session_key
    assert signed_in is not None
    request(manager, token)  # the token login replaced: rejected
    request(manager, "x" * 43)  # never issued: rejected
    clock.advance(121)
    renewed = manager.open(f"__Host-sessionid={signed_in}")
    renewed.get("x")
    manager.close_session(renewed, 200)  # loaded, and renewed: rotated, the old token in grace
    assert renewed.session_key not in (None, signed_in)
    request(manager, signed_in)  # the replaced token within its grace: loaded, reused
    # A session stored without the idle timeout (another deployment's setting), presented
    # after 601 idle seconds: the store still has it, this manager's rules end it.
    seed = SessionManager(url, clock=clock, cleanup_interval=None)
    stale = request(seed, None, n=1)
    clock.advance(601)
    request(manager, stale)  # loaded, expired, rejected
    manager.revoke_all("alice")  # revoked

    counts = {name: collected.total(f"sessionary.session.{name}") for name in SESSION_COUNTERS}
    assert counts == {
        "created": 1,
        "loaded": 6,
        "saved": 2,
        "rotated": 2,
        "expired": 1,
        "revoked": 1,
        "rejected": 3,
        "reused": 1,
    }
    for kind in ("created", "rotated", "expired", "revoked", "rejected"):
        assert counts[kind] == sum(event.kind == kind for event in events), kind
    assert collected.total("sessionary.session.revoked", sessionary_revocation_reason="all") == 1
    for point in collected.points("sessionary.session.created"):
        assert dict(point.attributes) == {"db.system.name": "sqlite"}


def test_store_operations_are_timed_and_traced(tmp_path: Path, collected: Collected) -> None:
    manager = measured(collected, f"sqlite:///{tmp_path}/s.db")
    token = request(manager, None, a=1)
    request(manager, token, a=2)
    manager.list_sessions("nobody")

    durations = {
        p.attributes["db.operation.name"]: p for p in collected.points("sessionary.store.operation.duration")
    }
    assert set(durations) == {"create", "load", "write", "user_sessions"}
    assert all(p.attributes["db.system.name"] == "sqlite" for p in durations.values())
    assert durations["load"].count == 1 and 0 < durations["load"].sum < 5
    assert list(durations["load"].explicit_bounds)[:3] == [0.0005, 0.001, 0.0025]

    spans = {span.name: span for span in collected.spans()}
    assert set(spans) == {"create sqlite", "load sqlite", "write sqlite", "user_sessions sqlite"}
    load = spans["load sqlite"]
    assert load.kind is SpanKind.CLIENT
    assert dict(load.attributes or {}) == {"db.system.name": "sqlite", "db.operation.name": "load"}
    assert load.status.status_code is StatusCode.UNSET


def test_store_errors_are_counted_by_cause(collected: Collected) -> None:
    require_module("redis")
    manager = measured(collected, f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=0.5&retries=0")
    try:
        with pytest.raises(StoreUnavailable):
            request(manager, "y" * 43)
    finally:
        manager.close()
    (point,) = collected.points("sessionary.store.errors")
    assert point.value == 1
    assert point.attributes["db.system.name"] == "redis"
    assert point.attributes["db.operation.name"] == "load"
    assert point.attributes["error.type"] == "ConnectionError"
    (span,) = collected.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ConnectionError"
    (duration,) = collected.points("sessionary.store.operation.duration")
    assert duration.attributes["error.type"] == "ConnectionError"


def test_no_token_key_hash_or_user_id_in_any_attribute(tmp_path: Path, collected: Collected) -> None:
    manager = measured(collected, f"sqlite:///{tmp_path}/s.db")
    session = manager.open(None)
    login(session, "alice-4242")
    manager.close_session(session, 200)
    token = session.session_key
    assert token is not None
    request(manager, token, a=1)
    manager.list_sessions("alice-4242")
    manager.revoke_all("alice-4242")
    key = store_key(token)
    secrets_ = [token, key.hex(), log_id(key, manager.config.log_secret), "alice-4242"]
    values = collected.every_attribute_value()
    assert values
    for value in values:
        for secret in secrets_:
            assert secret not in value


def test_user_ids_go_on_spans_only_when_opted_in(tmp_path: Path, collected: Collected) -> None:
    manager = measured(collected, f"sqlite:///{tmp_path}/s.db", telemetry_user_ids=True)
    manager.list_sessions("alice-4242")
    (span,) = collected.spans()
    assert (span.attributes or {})["enduser.id"] == "alice-4242"
    metric_values = [
        str(v) for p in collected.points("sessionary.store.operation.duration") for v in p.attributes.values()
    ]
    assert "alice-4242" not in metric_values


def test_cleanup_runs_and_removed_records_are_counted(tmp_path: Path, collected: Collected) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    past = SessionManager(url, clock=FakeClock(), cleanup_interval=None)
    for _ in range(5):
        request(past, None, a=1)
    past.close()
    manager = SessionManager(url, clock=FakeClock().__class__(past.clock.now().replace(year=2100)))
    instrument(manager, meter_provider=collected.meters, tracer_provider=collected.tracers)
    assert manager.cleanup is not None
    assert manager.cleanup.run_once().outcome == "cleaned"
    manager.cleanup._finish(CleanupRun("skipped", 0, 0.0, 0.0))
    assert collected.total("sessionary.cleanup.runs", sessionary_cleanup_outcome="cleaned") == 1
    assert collected.total("sessionary.cleanup.runs", sessionary_cleanup_outcome="skipped") == 1
    assert collected.total("sessionary.cleanup.removed") == 5
    batches = [
        p
        for p in collected.points("sessionary.store.operation.duration")
        if p.attributes["db.operation.name"] == "clear_expired"
    ]
    assert batches and batches[0].count == 2  # one batch that deleted, one that found none


def test_the_async_face_through_an_asgi_app(tmp_path: Path, collected: Collected) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def count(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    manager = measured(collected, f"sqlite:///{tmp_path}/s.db")
    app = SessionMiddleware(Starlette(routes=[Route("/", count)]), manager=manager)
    with TestClient(app, base_url="https://testserver") as client:
        assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
    counts = {name: collected.total(f"sessionary.session.{name}") for name in ("created", "loaded", "saved")}
    assert counts == {"created": 1, "loaded": 2, "saved": 2}
    assert {span.name for span in collected.spans()} == {"create sqlite", "load sqlite", "write sqlite"}


def test_the_config_switch_and_an_absent_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sessionary.stores.instrumented import InstrumentedBackend

    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", telemetry=True)
    assert isinstance(manager.store.sync, InstrumentedBackend)
    assert manager.store.sync.path == Path(f"{tmp_path}/s.db"), "the store's own attributes still answer"
    with pytest.raises(ConfigError, match="instrumented already"):
        instrument(manager)
    plain = SessionManager(f"sqlite:///{tmp_path}/s.db")
    assert not isinstance(plain.store.sync, InstrumentedBackend), "off by default"
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ConfigError, match=r"pip install 'sessionary\[telemetry\]'"):
        SessionManager("memory://", telemetry=True)


def test_a_prometheus_scrape(tmp_path: Path) -> None:
    """The setup docs/operations.md shows: the SDK, its Prometheus reader, an HTTP scrape."""
    require_module("opentelemetry.exporter.prometheus")
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1")
    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        manager = SessionManager(f"sqlite:///{tmp_path}/s.db", cleanup_interval=None)
        instrument(manager, meter_provider=provider)
        token = request(manager, None, a=1)
        request(manager, token)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        provider.shutdown()  # the reader's shutdown takes its collector off the registry
        server.shutdown()
        thread.join(5)
    assert 'sessionary_session_created_total{db_system_name="sqlite"' in text
    assert 'sessionary_session_loaded_total{db_system_name="sqlite"' in text
    assert (
        'sessionary_store_operation_duration_seconds_count{db_operation_name="load",db_system_name="sqlite"'
        in text
    )


def test_every_store_is_measured_under_its_system_name(store: Store, collected: Collected) -> None:
    manager = SessionManager(store, cleanup_interval=None)
    instrument(manager, meter_provider=collected.meters, tracer_provider=collected.tracers)
    token = request(manager, None, a=1)
    assert request(manager, token) == token
    systems = {
        p.attributes["db.system.name"] for p in collected.points("sessionary.store.operation.duration")
    }
    expected = {"sqlite": "sqlite", "memory": "memory", "postgresql": "postgresql", "redis": "redis"}
    scheme = store.name.split("://", 1)[0]
    assert systems == {db_system(store.name)}
    assert db_system(store.name) == expected.get(scheme.split("+")[0], scheme.replace("+", "_"))
    assert collected.total("sessionary.session.created") == 1
    assert collected.total("sessionary.session.loaded") == 1
