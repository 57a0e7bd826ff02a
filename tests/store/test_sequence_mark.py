"""Issue 19 item 7: a lost WAL must never make the store hand out a sequence number again.

Before: with the WAL deleted, 29 committed events vanished silently and the next crossings reused their numbers.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.store.highwater import Mark, decode, loss
from tests.store.test_store import crossing, make

ROOT = Path(__file__).resolve().parents[2]


def lose_the_wal(tmp_path: Path, in_db: int, in_wal: int) -> Path:
    """A store with `in_db` events checkpointed and `in_wal` more only in its WAL; returns a copy without the WAL
    (what deleting the -wal file, or copying the card while the station ran, leaves)."""
    store, rec = make(tmp_path)
    for i in range(in_db):
        rec.record_crossing(crossing(f"A{i}"))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.conn.execute("PRAGMA wal_autocheckpoint = 0")
    for i in range(in_wal):
        rec.record_crossing(crossing(f"B{i}"))
    lost = tmp_path / "lost"
    lost.mkdir()
    shutil.copy(tmp_path / "s.db", lost / "s.db")
    shutil.copy(tmp_path / "s.db-seq", lost / "s.db-seq")
    store.close()
    return lost


def test_a_lost_wal_never_reuses_a_sequence_number_and_is_reported(tmp_path, caplog):
    lost = lose_the_wal(tmp_path, in_db=207, in_wal=29)
    caplog.set_level(logging.ERROR, "borderpost.store")
    store, rec = make(lost)
    assert store.stats().total == 207                       # the 29 are gone with the WAL ...
    assert rec.record_crossing(crossing("NEXT")).sequence == 237   # ... but their numbers are not handed out
    expected = {"first": 208, "last": 236, "certain": True}
    assert store.stats().sequence_loss == expected
    assert store.health()["sequence_loss"] == expected
    assert any("208-236" in r.getMessage() and "not be reused" in r.getMessage() for r in caplog.records)
    assert any(a["action"] == "store.sequence_loss" for a in store.audit_entries())
    from edge.uplink import Uplink

    assert Uplink(rec.cfg, store, rec.key).telemetry().sequence_loss == expected   # the agency is told
    store.close()
    store, rec = make(lost)                                   # still reported after a restart, still no reuse
    assert store.stats().sequence_loss == expected
    assert rec.record_crossing(crossing("AGAIN")).sequence == 238
    out = subprocess.run([sys.executable, "-m", "edge", "events", "stats", "--json", "--store", str(lost / "s.db")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and '"sequence_loss": {"first": 208, "last": 236' in out.stdout, out.stderr


def test_an_intact_store_reports_no_loss(tmp_path):
    store, rec = make(tmp_path)
    for i in range(5):
        rec.record_crossing(crossing(f"A{i}"))
    store.close()
    store, rec = make(tmp_path)
    assert store.stats().sequence_loss is None and rec.record_crossing(crossing("N")).sequence == 6


def test_a_write_cut_before_its_commit_skips_its_number_quietly(tmp_path):
    store, rec = make(tmp_path)
    rec.record_crossing(crossing("A"))
    store.highwater.allocate(2)                 # synced before a commit that never came (power cut)
    store.close()
    store, rec = make(tmp_path)
    assert store.stats().sequence_loss is None
    assert rec.record_crossing(crossing("B")).sequence == 3


@pytest.mark.parametrize("mark, next_seq, expected", [
    (None, 1, None),
    (Mark(10, 10), 11, None),                    # all there
    (Mark(11, 10), 11, None),                    # one number handed out, its write cut: skipped, not lost
    (Mark(12, 10), 11, (11, 12, False)),         # more than one: may have been committed
    (Mark(40, 40), 11, (11, 40, True)),          # committed and gone
])
def test_loss_from_the_mark(mark, next_seq, expected):
    found = loss(mark, next_seq)
    assert (None if found is None else (found.first, found.last, found.certain)) == expected


@given(st.integers(0, 2**62), st.integers(0, 2**62))
def test_mark_record_round_trips_and_a_torn_one_is_refused(a, c):
    from edge.store.highwater import _encode

    data = _encode(Mark(a, c))
    assert decode(data) == Mark(a, c)
    torn = data[:5] + (b"9" if data[5:6] != b"9" else b"8") + data[6:]
    assert decode(torn) in (None, Mark(a, c)) and decode(b"") is None
