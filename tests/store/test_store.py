import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.config import parse
from edge.events import envelope
from edge.events.model import Crossing, Decision, DocumentSummary
from edge.recorder import Recorder
from edge.store import StorageFull, Store, StoreError, schema


def make(tmp_path: Path, **store_kw) -> tuple[Store, Recorder]:
    cfg = parse(f'[identity]\npost="p1"\ndevice="d1"\nsigning_key="{tmp_path}/k.pem"\n'
                f'[store]\npath="{tmp_path}/s.db"\nmin_free_mb=0\n')
    store = Store.open(cfg.store.path, min_free_mb=0, **store_kw)
    return store, Recorder(cfg, store)


def crossing(code="T1", surname="DOE") -> Crossing:
    return Crossing(post="p1", device="d1", role="kiosk", transaction=code,
                    document=DocumentSummary(surname=surname, document_number="X1234567", valid=True),
                    decision=Decision(outcome="admit", by="o1"))


def test_pragmas_wal_full_and_file_mode(tmp_path):
    store, _ = make(tmp_path)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == schema.LATEST
    assert os.stat(tmp_path / "s.db").st_mode & 0o777 == 0o600


def test_sequence_is_monotonic_and_survives_reopen(tmp_path):
    store, rec = make(tmp_path)
    seqs = [rec.record_crossing(crossing(f"T{i}")).sequence for i in range(5)]
    store.close()
    store2, rec2 = make(tmp_path)
    seqs.append(rec2.record_crossing(crossing("T9")).sequence)
    assert seqs == [1, 2, 3, 4, 5, 6]
    # purging delivered events does not reuse numbers
    store2.mark_delivered([1, 2, 3, 4, 5, 6])
    store2.purge(delivered_days=0, biometric_days=1, now=10**10)
    assert rec2.record_crossing(crossing("T10")).sequence == 7


def test_listing_has_no_names_or_document_numbers(tmp_path):
    store, rec = make(tmp_path)
    rec.record_crossing(crossing(surname="SECRETNAME"))
    text = repr(store.listing())
    assert "SECRETNAME" not in text and "X1234567" not in text
    assert store.listing()[0]["transaction"] == "T1"


def test_failed_write_leaves_nothing_half_written(tmp_path):
    store, rec = make(tmp_path)
    rec.record_crossing(crossing())
    with pytest.raises(RuntimeError), store.transaction() as tx:
        seq = tx.next_seq()
        tx.add_event(seq=seq, event_id="x", kind="crossing", topic="t", payload=b"{}")
        raise RuntimeError("power cut in the middle")
    assert store.stats().total == 1 and store.stats().next_seq == 2


def test_disk_full_is_storage_full_and_keeps_what_was_stored(tmp_path):
    store, rec = make(tmp_path)
    rec.record_crossing(crossing("KEEP"))
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now answers SQLITE_FULL
    big = Crossing(**{**crossing().model_dump(), "alerts": ["x" * 5000] * 20})
    with pytest.raises(StorageFull):
        rec.record_crossing(big)
    assert store.stats().total == 1
    assert store.listing()[0]["transaction"] == "KEEP"


def test_capacity_guard_refuses_before_writing(tmp_path):
    store, rec = make(tmp_path, max_db_mb=1)
    store.max_db_bytes = 1  # anything is over the limit
    assert "limit" in store.capacity_problem()
    with pytest.raises(StorageFull, match="storage full"):
        rec.record_crossing(crossing())
    assert store.stats().total == 0


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_damaged_database_is_refused_and_left_untouched(tmp_path, damage):
    store, rec = make(tmp_path)
    for i in range(200):
        rec.record_crossing(crossing(f"T{i}"))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    db = tmp_path / "s.db"
    if damage == "garbage":
        db.write_bytes(b"this is not sqlite" * 100)
    else:
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    before = db.read_bytes()
    with pytest.raises(StoreError, match="left untouched"):
        Store.open(db)
    assert db.read_bytes() == before


def test_audit_log_is_append_only_and_chained(tmp_path):
    store, rec = make(tmp_path)
    for i in range(3):
        rec.record_crossing(crossing(f"T{i}"))
    assert store.verify_audit_chain()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE audit SET actor = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM audit")


def test_retention_purges_delivered_and_biometrics(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    store, rec = make(tmp_path)
    rec.recipient = X25519PrivateKey.generate().public_key()
    r1 = rec.record_crossing(crossing("A"), samples={"face": b"\xff\xd8jpeg"})
    r2 = rec.record_crossing(crossing("B"))
    assert r1.biometrics_event_id and store.stats().total == 3
    store.mark_delivered([r1.sequence])
    out = store.purge(delivered_days=0, biometric_days=0, now=10**10)
    assert out == {"delivered_deleted": 1, "biometric_purged": 1}
    states = {r["seq"]: r["state"] for r in store.listing()}
    assert states == {r2.sequence: "pending", r1.sequence + 1: "purged"}
    assert store.payload(r1.biometrics_event_id) is None


def test_no_samples_are_sent_without_an_agency_key(tmp_path):
    store, rec = make(tmp_path)
    r = rec.record_crossing(crossing(), samples={"face": b"jpeg"})
    assert r.biometrics_event_id is None and store.stats().total == 1


def test_kill_9_after_commit_loses_nothing(tmp_path):
    """A process killed right after recording: every committed crossing is there after restart."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.store.test_store import make, crossing
        from pathlib import Path
        store, rec = make(Path({str(tmp_path)!r}))
        for i in range(50):
            r = rec.record_crossing(crossing(f"T{{i}}"))
            print(r.event_id, flush=True)
        os.kill(os.getpid(), 9)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == -9
    printed = out.stdout.split()
    store, _ = make(tmp_path)
    assert len(printed) == 50
    assert all(store.payload(eid) for eid in printed)
    ev = store.payload(printed[-1])
    assert envelope.verify(ev, _.key.public).ok


def test_two_processes_creating_the_store_at_once_both_open_it(tmp_path):
    """First boot: station and uplink start together on a fresh store. The one that waits for the other's migration
    must not run it again ('table meta already exists' would keep the uplink from starting)."""
    import threading
    import time

    path = tmp_path / "s.db"
    first = sqlite3.connect(path, isolation_level=None, timeout=10)
    first.execute("PRAGMA journal_mode = WAL")
    first.execute("BEGIN IMMEDIATE")                      # the first process is migrating
    for version in range(1, schema.LATEST + 1):
        for statement in schema.MIGRATIONS[version]:
            first.execute(statement)
    first.execute(f"PRAGMA user_version = {schema.LATEST}")
    result: dict = {}

    def second():
        try:
            result["store"] = Store.open(path, min_free_mb=0)
        except Exception as exc:
            result["error"] = exc

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)                                       # the second one has read the version and waits
    first.execute("COMMIT")
    t.join(20)
    first.close()
    assert "error" not in result, result.get("error")
    assert result["store"].conn.execute("PRAGMA user_version").fetchone()[0] == schema.LATEST


def test_wal_and_shm_files_are_private_from_the_start(tmp_path):
    """The WAL holds recent crossings (names, document numbers) until checkpointed: it must be 0600 like the db."""
    old = os.umask(0o022)
    try:
        _store, rec = make(tmp_path)
        rec.record_crossing(crossing())
        for suffix in ("", "-wal", "-shm"):
            f = tmp_path / f"s.db{suffix}"
            assert f.exists() and f.stat().st_mode & 0o777 == 0o600, (suffix, oct(f.stat().st_mode))
    finally:
        os.umask(old)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_store_says_permission_not_damage(tmp_path):
    store, rec = make(tmp_path)
    rec.record_crossing(crossing())
    store.close()
    os.chmod(tmp_path / "s.db", 0)
    try:
        with pytest.raises(StoreError, match="permission") as e:
            Store.open(tmp_path / "s.db")
        assert "move it aside" not in str(e.value)
    finally:
        os.chmod(tmp_path / "s.db", 0o600)


def test_replay_table_forgets_ids_long_past_any_command_lifetime(tmp_path):
    import time

    store, _ = make(tmp_path)
    store.conn.execute("INSERT INTO commands_seen(id, at) VALUES ('ancient', ?)", (time.time() - 3 * 86400,))
    assert store.command_done("c1") == (False, None)
    store.remember_command("c1", b"signed answer")
    assert store.command_done("c1") == (True, b"signed answer")   # a replay is still a replay
    ids = {r[0] for r in store.conn.execute("SELECT id FROM commands_seen")}
    assert ids == {"c1"}


def test_storage_full_clears_once_delivered_events_are_purged(tmp_path):
    """SQLite keeps freed pages in the file: a store that reached its size limit must take crossings again once
    retention has deleted delivered events, not stay 'full' until someone runs VACUUM."""
    store, rec = make(tmp_path)
    big = {"alerts": ["x" * 2000] * 5}
    seqs = [rec.record_crossing(Crossing(**{**crossing(f"T{i}").model_dump(), **big})).sequence for i in range(300)]
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.max_db_bytes = store.conn.execute("PRAGMA page_count").fetchone()[0] * 4096 - 4096
    assert store.capacity_problem() and "limit" in store.capacity_problem()
    store.mark_delivered(seqs)
    store.purge(delivered_days=0, biometric_days=1, now=10**10)
    assert store.capacity_problem() is None
    assert rec.record_crossing(crossing("AFTER")).sequence == 301


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files for another owner")
def test_a_store_first_opened_by_root_belongs_to_the_owner_of_its_directory(tmp_path):
    """`sudo borderpost doctor` (or `events stats`) before the services ever ran must not leave a root-owned store
    that the `borderpost` service user then cannot open."""
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 4321, 4321)                   # like /var/lib/borderpost (StateDirectory=, User=borderpost)
    store = Store.open(state / "s.db", min_free_mb=0)
    try:
        for f in state.iterdir():
            st = f.stat()
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (4321, 4321, 0o600), f.name
    finally:
        store.close()


def test_purge_releases_the_write_lock_between_batches(tmp_path, monkeypatch):
    """A month of delivered events deleted in one transaction can hold the write lock longer than the station's busy
    timeout, and the crossing being recorded then fails: retention works in batches."""
    from edge.store import db as dbmod

    monkeypatch.setattr(dbmod, "PURGE_BATCH", 40, raising=False)
    store, rec = make(tmp_path)
    seqs = [rec.record_crossing(crossing(f"T{i}")).sequence for i in range(100)]
    store.mark_delivered(seqs)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    out = store.purge(delivered_days=0, biometric_days=1, now=10**10)
    store.conn.set_trace_callback(None)
    assert out["delivered_deleted"] == 100 and store.stats().total == 0
    assert sum(s.strip().upper() == "COMMIT" for s in statements) >= 3
    assert store.verify_audit_chain()


def test_a_failed_migration_reports_its_own_error(tmp_path, monkeypatch):
    """SQLite may end the transaction itself (disk full, I/O error): the ROLLBACK that follows must not replace the
    real reason with 'cannot rollback - no transaction is active'."""
    broken = ("ROLLBACK",                                # as SQLite does on some I/O errors
              "INSERT INTO the_disk_failed VALUES (1)")  # then the step's own error
    monkeypatch.setitem(schema.MIGRATIONS, 1, broken)
    with pytest.raises(StoreError, match="no such table: the_disk_failed"):
        Store.open(tmp_path / "new.db", min_free_mb=0)


def test_integrity_check_runs_once_per_boot_and_keeps_systemd_waiting(tmp_path, monkeypatch):
    """After a power cut (a new boot) the whole file is checked, with EXTEND_TIMEOUT_USEC so a slow SD card
    is not killed by TimeoutStartSec; later opens in the same boot (CLI, restarts, the UI) do not read it again."""
    import socket

    from edge.store import integrity

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    listener.settimeout(0.05)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setattr(integrity, "PROGRESS_EVERY", 1000)
    monkeypatch.setattr(integrity, "boot_id", lambda: "boot-1")

    def heard() -> list[str]:
        out = []
        while True:
            try:
                out.append(listener.recv(4096).decode())
            except TimeoutError:
                return out

    store, rec = make(tmp_path)
    for i in range(100):
        rec.record_crossing(crossing(f"T{i}"))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    heard()
    Store.open(tmp_path / "s.db", min_free_mb=0).close()
    first = heard()
    assert first and first[0].startswith("EXTEND_TIMEOUT_USEC=30000000\nSTATUS=checking the store's integrity")
    Store.open(tmp_path / "s.db", min_free_mb=0).close()
    assert heard() == []                                         # same boot: not read through again
    data = (tmp_path / "s.db").read_bytes()
    (tmp_path / "s.db").write_bytes(data[: len(data) // 3])
    monkeypatch.setattr(integrity, "boot_id", lambda: "boot-2")         # the power cut
    with pytest.raises(StoreError, match=r"damaged|not a usable"):
        Store.open(tmp_path / "s.db", min_free_mb=0)
    listener.close()
