"""Fixtures for the agency side: every database test runs on SQLite and on a private PostgreSQL server."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.central.postgres import pg_bin, start_postgres

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    if pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (CI's .ci/run does)")
    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/central.db"
    pg = request.getfixturevalue("postgres")
    return pg.createdb(f"central_{next(_names)}")


@pytest.fixture
def engine(db_url: str):
    from central.db import open_db

    e = open_db(db_url)
    yield e
    e.dispose()
