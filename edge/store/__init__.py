"""The durable SQLite store: events + outbox state, sequence counter, audit log, device status."""

from edge.store.db import Pending, Stats, Store, Transaction
from edge.store.errors import StorageFull, StoreError

__all__ = ["Pending", "Stats", "StorageFull", "Store", "StoreError", "Transaction"]
