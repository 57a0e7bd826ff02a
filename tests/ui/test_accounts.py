"""Accounts: argon2id, lock-out after repeated failures (also under parallel guessing), audit without secrets."""

from __future__ import annotations

import threading

import pytest

from edge.store import Store
from kiosk_ui.accounts import AccountError, Accounts

PW = "a long passphrase"


@pytest.fixture
def accounts(tmp_path):
    store = Store.open(tmp_path / "store.db", min_free_mb=0)
    a = Accounts(store, max_failures=3, lockout_s=60)
    a.add("alice", "Alice", "officer", PW)
    yield a
    store.close()


def test_sign_in_ok_wrong_role_unknown_and_disabled(accounts):
    assert accounts.sign_in("alice", PW, "officer", now=0).ok
    assert accounts.sign_in("alice", PW, "technician", now=0).reason == "wrong_role"
    assert accounts.sign_in("mallory", PW, "officer", now=0).reason == "bad_credentials"
    assert accounts.sign_in("../etc", PW, "officer", now=0).reason == "bad_credentials"
    accounts.set_disabled("alice", True)
    assert accounts.sign_in("alice", PW, "officer", now=0).reason == "bad_credentials"


def test_lockout_after_failures_then_expires(accounts):
    for _ in range(2):
        assert accounts.sign_in("alice", "wrong password", "officer", now=100).reason == "bad_credentials"
    assert accounts.sign_in("alice", "wrong password", "officer", now=100).reason == "locked"
    assert accounts.sign_in("alice", PW, "officer", now=130).reason == "locked"      # right password, still locked
    assert accounts.sign_in("alice", PW, "officer", now=161).ok                       # lock-out over
    assert accounts.get("alice").failures == 0


def test_parallel_guesses_cannot_exceed_the_limit(accounts):
    results = []

    def guess() -> None:
        results.append(accounts.sign_in("alice", "wrong password", "officer", now=100).reason)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert accounts.get("alice").locked_until == pytest.approx(160)
    assert results.count("bad_credentials") <= 2


def test_bad_input_and_no_secrets_in_store_or_audit(accounts):
    with pytest.raises(AccountError):
        accounts.add("bob", "Bob", "officer", "short")
    with pytest.raises(AccountError):
        accounts.add("bob", "Bob", "admin", PW)
    with pytest.raises(AccountError):
        accounts.add("alice", "Alice", "officer", PW)
    with pytest.raises(AccountError):
        accounts.unlock("nobody")
    accounts.sign_in("alice", "a guessed password", "officer")
    dump = "\n".join(str(r) for r in accounts.store.conn.execute("SELECT * FROM accounts").fetchall())
    dump += "\n".join(str(e) for e in accounts.store.audit_entries())
    assert PW not in dump and "a guessed password" not in dump and "$argon2id$" in dump
    assert accounts.store.verify_audit_chain()
