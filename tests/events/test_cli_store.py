"""`events stats|list` read the store with `--store` alone, read-only: a copied store, a read-only file system.

Issue 19 item 8: a read-only file system was reported as "permission denied" and `events stats` refused to read.
Issue 17 item 6: commands that only need the store work without a config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.store import Store, StoreError
from tests.store.test_store import crossing, make

ROOT = Path(__file__).resolve().parents[2]


def events(*args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BORDERPOST_CONFIG": str(config or "/nonexistent/borderpost/config.toml")}
    return subprocess.run([sys.executable, "-m", "edge", "events", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def recorded(directory: Path, n: int = 5) -> Path:
    store, rec = make(directory)
    for i in range(n):
        rec.record_crossing(crossing(f"T{i}", surname="SECRETNAME"))
    store.close()
    return directory / "s.db"


def test_stats_and_list_need_only_the_store(tmp_path):
    db = recorded(tmp_path)
    kept = ("s.db", "s.db-seq")   # SQLite may create its empty WAL index beside it: the store itself is unchanged
    before = {name: (tmp_path / name).read_bytes() for name in kept}
    out = events("stats", "--json", "--store", str(db))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["pending"] == 5
    out = events("list", "--json", "--store", str(db))
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 5 and "SECRETNAME" not in out.stdout
    after = {name: (tmp_path / name).read_bytes() for name in kept}
    assert after == before                                   # a read never writes the store


def test_a_missing_store_is_one_line_and_is_not_created(tmp_path):
    out = events("stats", "--store", str(tmp_path / "nope.db"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no store here" in out.stderr
    assert not (tmp_path / "nope.db").exists()


def test_without_store_or_config_the_message_says_how_to_make_a_config():
    out = events("stats")
    assert out.returncode == 2 and "borderpost config example >" in out.stderr and "Traceback" not in out.stderr


def test_a_read_only_file_system_is_named_and_still_readable(small_fs):
    fs = small_fs(16)
    db = recorded(fs.path)
    fs.remount("ro")
    with pytest.raises(StoreError) as e:                     # writing: the real reason, not "permission denied"
        Store.open(db, min_free_mb=0)
    assert "read-only file system" in str(e.value) and "permission" not in str(e.value)
    out = events("stats", "--json", "--store", str(db))      # reading works
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total"] == 5
    out = events("list", "--store", str(db))
    assert out.returncode == 0 and "T4" in out.stdout, out.stderr
