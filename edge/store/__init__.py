"""The durable SQLite store: events + outbox state, sequence counter, audit log, device status."""

from edge.store.db import Pending, Stats, StorageFull, Store, StoreError, Transaction

__all__ = ["Pending", "Stats", "StorageFull", "Store", "StoreError", "Transaction"]
