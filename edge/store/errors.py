"""What the store raises: every SQLite or file-system error reaches callers as one of these, with one line."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be used (damaged, unreadable, newer schema); the message says what to do."""


class StorageFull(StoreError):
    """No new crossing can be recorded until space is freed; what is stored is intact."""
