"""Fixtures for these tests: a small tmpfs of their own (see tests/support/smallfs.py)."""

from tests.support.smallfs import small_fs  # noqa: F401 (a fixture)
