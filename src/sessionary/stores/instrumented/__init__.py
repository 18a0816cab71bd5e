"""A store face that measures every operation of the face it wraps (``sessionary.telemetry``):
``AsyncInstrumentedBackend`` (the async source) and ``InstrumentedBackend`` (generated from it)."""

from ._async import AsyncInstrumentedBackend
from ._sync import InstrumentedBackend

__all__ = ["AsyncInstrumentedBackend", "InstrumentedBackend"]
