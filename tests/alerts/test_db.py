"""The applied list: atomic apply (also under kill -9), refusals keep the list, nothing readable at rest."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.alerts.bundle import BundleError, make_bundle
from edge.alerts.db import AlertDB
from edge.alerts.entries import ListError
from tests.alerts.helpers import document, open_db, person, snapshot, write_private

KEY = Ed25519PrivateKey.generate()
ENTRIES = [person("p1", "OUEDRAOGO", "ABDOULAYE", "1979-04-02", nationality="BFA"),
           document("d1", "FRA", "12AB34567", surname="MARTIN")]


def test_snapshot_then_delta_apply_and_match(tmp_path: Path) -> None:
    db = open_db(tmp_path, KEY)
    a = db.apply_bundle(snapshot(KEY, ENTRIES, 10), source="test")
    assert (a.version, a.entries) == (10, 2)
    delta = b'{"op":"remove","id":"p1"}\n{"op":"add","entry":{"id":"p2","kind":"person","reason":"r",' \
            b'"action":"notify","surname":"TRAORE","birth_date":"1990"}}\n'
    a = db.apply_bundle(make_bundle(delta, KEY, version=11, kind="delta", base=10), source="test")
    assert (a.version, a.entries, a.changes) == (11, 2, 2)
    m = db.matcher()
    assert [h.id for h in m.match({"issuing_state": "FRA", "document_number": "12AB34567"})] == ["d1"]
    assert [h.id for h in m.match({"surname": "KEITA", "birth_date": "1990-02-02"})] == []
    assert [h.id for h in m.match({"surname": "TRAORE", "given_names": "", "birth_date": "1990-02-02"})] == ["p2"]
    st = db.status(stale_after_hours=48)
    assert (st["version"], st["documents"], st["persons"], st["source"], st["stale"]) == (11, 1, 1, "test", False)


@pytest.mark.parametrize(("bundle", "reason"), [
    (lambda: snapshot(KEY, ENTRIES, 5), "older"),
    (lambda: snapshot(Ed25519PrivateKey.generate(), ENTRIES, 20), "bad signature"),
    (lambda: snapshot(KEY, ENTRIES, 20)[:-3], "truncated"),
    (lambda: make_bundle(b'{"id":"p9","kind":"person","reason":"r","action":"refer","surname":"X"}\n{"id":', KEY,
                         version=20), "line 2: not JSON"),
    (lambda: make_bundle(b'{"op":"remove","id":"p1"}\n', KEY, version=20, kind="delta", base=9), "delta for"),
    (lambda: snapshot(KEY, [*ENTRIES, person("p1", "OTHER")], 20), "line 3: an id appears twice"),
])
def test_a_refused_bundle_leaves_the_list_as_it_was(tmp_path: Path, bundle, reason: str) -> None:
    db = open_db(tmp_path, KEY)
    db.apply_bundle(snapshot(KEY, ENTRIES, 10), source="test")
    with pytest.raises((BundleError, ListError), match=reason):
        db.apply_bundle(bundle(), source="test")
    assert db.version() == 10 and db.counts() == {"document": 1, "person": 1}


def test_no_key_configured_accepts_nothing(tmp_path: Path) -> None:
    db = AlertDB.beside(tmp_path / "store.db", None)
    with pytest.raises(BundleError, match="no alert-list key"):
        db.apply_bundle(snapshot(KEY, ENTRIES, 1), source="test")


def test_the_files_hold_no_names_or_document_numbers(tmp_path: Path) -> None:
    db = open_db(tmp_path, KEY)
    db.apply_bundle(snapshot(KEY, ENTRIES, 10), source="test")
    db.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "var").iterdir() if p.name.startswith("alerts.db"))
    for secret in (b"OUEDRAOGO", b"ABDOULAYE", b"1979-04-02", b"12AB34567", b"MARTIN", b"BFA"):
        assert secret not in raw
    assert b"p1" in raw     # ids are kept in clear (docs/alerts.md says so)


def test_another_device_key_cannot_open_the_persons(tmp_path: Path) -> None:
    db = open_db(tmp_path, KEY)
    db.apply_bundle(snapshot(KEY, ENTRIES, 10), source="test")
    db.close()
    (tmp_path / "var" / "queue_samples.key").write_bytes(os.urandom(32))
    db = open_db(tmp_path, KEY)
    with pytest.raises(Exception, match="another device key"):
        db.matcher()


APPLY = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from edge.alerts.db import AlertDB
from edge.alerts.entries import Entry, dump_entries
from edge.alerts.bundle import make_bundle
key = load_pem_private_key(Path(sys.argv[1]).read_bytes(), None)
n, version = int(sys.argv[3]), int(sys.argv[4])
body = dump_entries(Entry(id=f"v{version}-{i}", kind="person", reason="r", action="refer",
                          surname=f"NAME{i}", birth_date="1970") for i in range(n))
bundle = make_bundle(body, key, version=version)
db = AlertDB.beside(Path(sys.argv[2]), key.public_key())
print("applying", flush=True)
db.apply_bundle(bundle, source="test")
print("applied", flush=True)
"""


def _state(store: Path) -> tuple[int | None, int, set[str]]:
    conn = sqlite3.connect(store.with_name("alerts.db"))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    row = conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
    n = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    prefixes = {r[0].split("-")[0] for r in conn.execute("SELECT id FROM entries")}
    conn.close()
    return (int(row[0]) if row else None), n, prefixes


def test_kill_9_during_apply_leaves_the_old_list_or_the_new_one_never_a_mix(tmp_path: Path) -> None:
    key_file = write_private(KEY, tmp_path / "agency.pem")
    store = tmp_path / "var" / "borderpost.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", APPLY, str(key_file), str(store), "2000", "1"], env=env, check=True,
                   timeout=120, capture_output=True)
    assert _state(store) == (1, 2000, {"v1"})
    killed_mid_write = 0
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", APPLY, str(key_file), str(store), "40000", str(2 + attempt)],
                                env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "applying"
        wal = store.with_name("alerts.db-wal")
        end = time.monotonic() + 180
        while time.monotonic() < end and proc.poll() is None and (not wal.exists() or wal.stat().st_size < 2**18):
            time.sleep(0.002)
        in_transaction = proc.poll() is None and wal.exists() and wal.stat().st_size >= 2**18
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_mid_write += in_transaction
        version, n, prefixes = _state(store)
        assert (version, n, prefixes) in ((1, 2000, {"v1"}), (2 + attempt, 40000, {f"v{2 + attempt}"}))
        if version == 1:
            continue
        break
    assert killed_mid_write >= 1, "the apply finished before it could be killed: make the list bigger"
    db = AlertDB.beside(store, KEY.public_key())      # and the next apply works on what was left
    assert db.apply_bundle(snapshot(KEY, ENTRIES, 50), source="test").entries == 2
