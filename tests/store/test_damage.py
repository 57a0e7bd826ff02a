"""Issue 19 item 5: a page damaged after this boot's integrity check must give a clear message and a safe state.

Before: `events stats` died with a sqlite3.DatabaseError traceback and the store went on being used.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.store import StorageFull, Store, StoreError
from tests.store.test_store import crossing, make

ROOT = Path(__file__).resolve().parents[2]


def damaged_store(tmp_path: Path) -> Path:
    """A store checked in this boot (the marker is set), then one of its events pages overwritten."""
    store, rec = make(tmp_path)
    for i in range(200):
        rec.record_crossing(crossing(f"T{i}"))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = store.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    page = store.conn.execute("PRAGMA page_size").fetchone()[0]
    store.close()
    Store.open(tmp_path / "s.db", min_free_mb=0).close()     # checked: later opens in this boot skip the check
    with open(tmp_path / "s.db", "r+b") as f:                 # the card flips the events table's root page
        f.seek((root - 1) * page)
        f.write(b"\xff" * 64)
    return tmp_path / "s.db"


def test_events_stats_on_a_page_damaged_later_is_one_line_not_a_traceback(tmp_path):
    db = damaged_store(tmp_path)
    before = db.read_bytes()
    for cmd in (["stats"], ["list"], ["stats", "--json"]):
        out = subprocess.run([sys.executable, "-m", "edge", "events", *cmd, "--store", str(db)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60,
                             env={"BORDERPOST_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"})
        assert out.returncode == 2, (cmd, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
        assert "database is damaged" in out.stderr and "left untouched" in out.stderr
        assert "aside" not in out.stderr
    assert db.read_bytes() == before


def test_damage_met_while_running_stops_new_crossings_and_keeps_the_file(tmp_path):
    db = damaged_store(tmp_path)
    before = db.read_bytes()
    store, rec = make(tmp_path)                 # the station, (re)started in the same boot: no check at open
    with pytest.raises(StoreError) as e:
        store.stats()
    assert not isinstance(e.value, sqlite3.Error) and "database is damaged" in str(e.value)
    health = store.health()
    assert health["damaged"] and not health["storage_full"]
    assert "database is damaged" in store.capacity_problem()
    with pytest.raises(StoreError) as e:        # no new crossings on a damaged store
        rec.record_crossing(crossing("NEW"))
    assert not isinstance(e.value, StorageFull)
    store.close()
    assert db.read_bytes() == before


def test_every_sqlite_error_from_the_store_is_a_store_error(tmp_path):
    """Whatever the store reads, a damaged page is a StoreError (callers catch one type), never sqlite3's."""
    db = damaged_store(tmp_path)
    store = Store.open(db, min_free_mb=0)
    for read in (lambda: store.stats(), lambda: store.listing(), lambda: store.pending(),
                 lambda: store.mark_delivered([1]), lambda: store.purge(0, 0, now=10**10)):
        with pytest.raises(StoreError):
            read()
