"""The store contract: ``AsyncBackend`` (the async source) and ``Backend`` (generated from it)."""

from ._async import AsyncBackend
from ._sync import Backend

__all__ = ["AsyncBackend", "Backend"]
