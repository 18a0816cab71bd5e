"""Metrics and traces through the OpenTelemetry API (``pip install 'sessionary[telemetry]'``).

Off unless asked for (``Config.telemetry=True``, or :func:`instrument` with the app's own
providers), so an app that does not use it pays nothing, and nothing here is imported.
The app's OpenTelemetry SDK decides where the measurements go (OTLP, Prometheus…).

What is measured (docs/operations.md has the table): one counter per session event
(``sessionary.session.created`` … ``.reused``), the duration of every store operation
(``sessionary.store.operation.duration``, with OpenTelemetry's database attributes), store
errors by cause, and the background cleanup's runs and removed records. No attribute
carries a token, a store key or its hash; the user id goes on spans (``enduser.id``) only
with ``user_ids=True`` (``Config.telemetry_user_ids``), and never on a metric.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .events import CREATED, EXPIRED, REJECTED, REVOKED, ROTATED, Event
from .stores import Store
from .stores.instrumented import AsyncInstrumentedBackend, InstrumentedBackend

if TYPE_CHECKING:
    from .cleanup_scheduler import CleanupRun
    from .manager import SessionManager
    from .stores.base import Record

LOADED, SAVED, REUSED = "loaded", "saved", "reused"
SESSION_COUNTERS = {
    CREATED: "new sessions stored",
    LOADED: "sessions a request found live in the store",
    SAVED: "changes saved to an existing session",
    ROTATED: "sessions given a new token (sign-in, cycle_key, renewal)",
    EXPIRED: "sessions found past an idle, absolute or browser-close timeout when presented",
    REVOKED: "sessions ended by a user, a session limit or 'log out everywhere'",
    REJECTED: "cookies naming no live session (unknown, expired, revoked or forged)",
    REUSED: "replaced tokens presented during their renewal grace",
}
"""Counter ``sessionary.session.<name>`` for each, unit ``{session}``."""

DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: a local store answers in well under a millisecond, a network one in a few."""

_SYSTEMS = {
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "redis+cluster": "redis",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}


def db_system(store_name: str) -> str:
    """OpenTelemetry's ``db.system.name`` for a store URL (its scheme for stores it lacks)."""
    scheme = store_name.split("://", 1)[0].lower()
    return _SYSTEMS.get(scheme, scheme.replace("+", "_") or "other")


def _revocation(reason: str | None) -> str:
    """A revocation's reason as one of a few values (the event text carries counts)."""
    text = reason or ""
    if text.startswith("all sessions"):
        return "all"
    if "limit" in text:
        return "limit"
    return "user"


class Telemetry:
    """The instruments of one manager, and the few calls that feed them."""

    def __init__(
        self,
        store_name: str,
        *,
        meter_provider: Any = None,
        tracer_provider: Any = None,
        user_ids: bool = False,
    ) -> None:
        try:
            from opentelemetry import metrics, trace
            from opentelemetry.trace import SpanKind, Status, StatusCode
        except ImportError:
            raise ConfigError(
                "telemetry", "needs the OpenTelemetry API: pip install 'sessionary[telemetry]'"
            ) from None
        from .version import version

        self._span_kind = SpanKind.CLIENT
        self._status, self._error = Status, StatusCode.ERROR
        self.user_ids = user_ids
        self.system = db_system(store_name)
        meter = metrics.get_meter("sessionary", version(), meter_provider=meter_provider)
        self.tracer = trace.get_tracer("sessionary", version(), tracer_provider=tracer_provider)
        self._sessions = {
            name: meter.create_counter(f"sessionary.session.{name}", unit="{session}", description=text)
            for name, text in SESSION_COUNTERS.items()
        }
        self._duration = meter.create_histogram(
            "sessionary.store.operation.duration",
            unit="s",
            description="Duration of session store operations",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._errors = meter.create_counter(
            "sessionary.store.errors", unit="{error}", description="Store operations that failed, by cause"
        )
        self._cleanup_runs = meter.create_counter(
            "sessionary.cleanup.runs", unit="{run}", description="Background cleanup attempts, by outcome"
        )
        self._cleanup_removed = meter.create_counter(
            "sessionary.cleanup.removed",
            unit="{session}",
            description="Expired records the background cleanup deleted",
        )
        self._attributes = {"db.system.name": self.system}

    # --- store operations --------------------------------------------------------------

    @contextmanager
    def operation(self, name: str, *, user_id: str | None = None) -> Iterator[None]:
        """One store operation: a client span, its duration, and on failure its cause."""
        attributes: dict[str, str] = {"db.system.name": self.system, "db.operation.name": name}
        span_attributes = dict(attributes)
        if user_id is not None and self.user_ids:
            span_attributes["enduser.id"] = user_id
        started = time.perf_counter()
        with self.tracer.start_as_current_span(
            f"{name} {self.system}",
            kind=self._span_kind,
            attributes=span_attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except Exception as exc:
                cause = error_type(exc)
                attributes["error.type"] = cause
                span.set_attribute("error.type", cause)
                span.set_status(self._status(self._error, type(exc).__name__))
                self._errors.add(1, attributes)
                raise
            finally:
                self._duration.record(time.perf_counter() - started, attributes)

    def loaded(self, record: Record | None, key: bytes) -> None:
        if record is not None:
            self._sessions[LOADED].add(1, self._attributes)
            if record.key != key:
                self._sessions[REUSED].add(1, self._attributes)

    def saved(self, written: bool) -> None:
        if written:
            self._sessions[SAVED].add(1, self._attributes)

    # --- events and cleanup ------------------------------------------------------------

    def event(self, event: Event) -> None:
        counter = self._sessions.get(event.kind)
        if counter is None:
            return
        if event.kind == REVOKED:
            counter.add(1, {**self._attributes, "sessionary.revocation.reason": _revocation(event.reason)})
        else:
            counter.add(1, self._attributes)

    def cleanup_run(self, run: CleanupRun) -> None:
        attributes = {**self._attributes, "sessionary.cleanup.outcome": run.outcome}
        self._cleanup_runs.add(1, attributes)
        if run.removed:
            self._cleanup_removed.add(run.removed, self._attributes)


def error_type(exc: BaseException) -> str:
    """``error.type`` for a failed operation: the cause the store error wraps (the driver's
    ``TimeoutError``, ``ConnectionError``…), else the store error's own class."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return type(cause).__name__


def instrument(
    manager: SessionManager,
    *,
    meter_provider: Any = None,
    tracer_provider: Any = None,
    user_ids: bool | None = None,
) -> Telemetry:
    """Measure ``manager`` from now on (the global providers unless given others).

    ``Config(telemetry=True)`` calls this with the global providers when the manager is
    built; call it yourself to pass providers of your own."""
    if isinstance(manager.store.sync, InstrumentedBackend):
        raise ConfigError("telemetry", f"{manager!r} is instrumented already")
    telemetry = Telemetry(
        manager.store.name,
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        user_ids=manager.config.telemetry_user_ids if user_ids is None else user_ids,
    )
    store = manager.store
    manager.store = Store(
        InstrumentedBackend(store.sync, telemetry),
        AsyncInstrumentedBackend(store.aio, telemetry),
        store.codec,
    )
    manager.observe_events(telemetry.event)
    if manager.cleanup is not None:
        manager.cleanup.observers.append(telemetry.cleanup_run)
    return telemetry
