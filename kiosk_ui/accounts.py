"""Officer and technician accounts: argon2id password hashes, lock-out after repeated failures.

Accounts live in the store (`accounts` table, schema v2) so they survive restarts and every change is
in the same hash-chained audit log as the decisions they sign.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge.store import Store

Role = Literal["officer", "technician"]
ROLES: tuple[str, ...] = ("officer", "technician", "supervisor")   # a supervisor is an officer who sees the audit log
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
MIN_PASSWORD = 10
_HASHER = PasswordHasher()   # argon2id, library defaults (RFC 9106 second recommendation)


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps an unknown id as slow as a wrong password (no account enumeration by timing).
    Made at the first sign-in, not at import: argon2id's 64 MiB pass is seconds of a slow board's start-up."""
    return _HASHER.hash("borderpost-dummy-password")


class AccountError(Exception):
    """Bad account input (id, role, weak password, unknown account); the message says which."""


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: str
    disabled: bool
    failures: int
    locked_until: float | None


@dataclass(frozen=True)
class SignIn:
    ok: bool
    reason: Literal["ok", "bad_credentials", "locked", "wrong_role"]
    account: Account | None = None


class Accounts:
    def __init__(self, store: Store, max_failures: int = 5, lockout_s: float = 300.0,
                 lock: AbstractContextManager | None = None) -> None:
        self.store = store
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.lock = lock or threading.RLock()   # the UI shares one store connection: its lock, not ours

    def _row(self, account_id: str) -> Account | None:
        with self.lock:
            return self._row_unlocked(account_id)

    def _row_unlocked(self, account_id: str) -> Account | None:
        row = self.store.conn.execute(
            "SELECT id, name, role, disabled, failures, locked_until FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        if row is None:
            return None
        return Account(row[0], row[1], row[2], bool(row[3]), row[4], row[5])

    def get(self, account_id: str) -> Account | None:
        return self._row(account_id)

    def list(self) -> list[Account]:
        with self.lock:
            ids = [r[0] for r in self.store.conn.execute("SELECT id FROM accounts ORDER BY id").fetchall()]
        return [a for a in (self._row(i) for i in ids) if a is not None]

    def add(self, account_id: str, name: str, role: str, password: str, actor: str = "cli") -> Account:
        if not ID_PATTERN.match(account_id):
            raise AccountError("id: 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if role not in ROLES:
            raise AccountError(f"role: expected one of {', '.join(ROLES)}")
        _check_password(password)
        hashed = _HASHER.hash(password)
        with self.lock:
            if self._row_unlocked(account_id) is not None:
                raise AccountError(f"account {account_id!r} exists")
            self._insert(account_id, name, role, hashed, actor)
        account = self._row(account_id)
        assert account is not None
        return account

    def _insert(self, account_id: str, name: str, role: str, hashed: str, actor: str) -> None:
        with self.store.transaction() as tx:
            self.store.conn.execute(
                "INSERT INTO accounts(id, name, role, hash, failures, disabled, created_at) VALUES (?,?,?,?,0,0,?)",
                (account_id, name[:80], role, hashed, time.time()),
            )
            tx.audit(actor, "account.added", account_id, {"role": role})

    def set_password(self, account_id: str, password: str, actor: str = "cli") -> None:
        _check_password(password)   # hashed before the lock is taken (argon2 is slow on purpose)
        self._update(account_id, "hash = ?, failures = 0, locked_until = NULL", (_HASHER.hash(password),),
                     actor, "account.password_set")

    def set_disabled(self, account_id: str, disabled: bool, actor: str = "cli") -> None:
        self._update(account_id, "disabled = ?", (int(disabled),), actor,
                     "account.disabled" if disabled else "account.enabled")

    def unlock(self, account_id: str, actor: str = "cli") -> None:
        self._update(account_id, "failures = 0, locked_until = NULL", (), actor, "account.unlocked")

    def _update(self, account_id: str, sets: str, args: tuple, actor: str, action: str) -> None:
        with self.lock:
            if self._row_unlocked(account_id) is None:
                raise AccountError(f"no account {account_id!r}")
            with self.store.transaction() as tx:
                self.store.conn.execute(f"UPDATE accounts SET {sets} WHERE id = ?", (*args, account_id))
                tx.audit(actor, action, account_id, {})

    def sign_in(self, account_id: str, password: str, role: str, now: float | None = None) -> SignIn:
        """Check credentials for `role`. Failures count towards a lock-out; each attempt is audited."""
        now = time.time() if now is None else now
        with self.lock:
            row = self.store.conn.execute("SELECT hash FROM accounts WHERE id = ?", (account_id,)).fetchone() \
                if ID_PATTERN.match(account_id or "") else None
            account = self._row_unlocked(account_id) if row else None
        if account is None or row is None:
            _verify(_dummy_hash(), password)
            self._audit("ui", "signin.failed", "", {"role": role, "why": "unknown"})
            return SignIn(False, "bad_credentials")
        if account.locked_until and account.locked_until > now:
            self._audit(account_id, "signin.refused", account_id, {"why": "locked"})
            return SignIn(False, "locked", account)
        good = _verify(row[0], password)            # slow on purpose: outside the lock
        if not good or account.disabled:
            with self.lock, self.store.transaction() as tx:
                if self._locked_meanwhile(account_id, now):   # a parallel attempt locked it while we verified
                    tx.audit(account_id, "signin.refused", account_id, {"why": "locked"})
                    return SignIn(False, "locked", account)
                # counted in SQL under the lock: parallel guesses cannot slip past the limit
                failures = self.store.conn.execute(
                    "UPDATE accounts SET failures = failures + 1 WHERE id = ? RETURNING failures", (account_id,)
                ).fetchone()[0]
                locked = now + self.lockout_s if failures >= self.max_failures else None
                if locked:
                    self.store.conn.execute("UPDATE accounts SET failures = 0, locked_until = ? WHERE id = ?",
                                            (locked, account_id))
                tx.audit(account_id, "signin.failed", account_id,
                         {"role": role, "locked": bool(locked), "why": "disabled" if good else "password"})
            return SignIn(False, "locked" if locked else "bad_credentials", account)
        if account.role != role and not (role == "officer" and account.role == "supervisor"):
            self._audit(account_id, "signin.refused", account_id, {"why": "role", "role": role})
            return SignIn(False, "wrong_role", account)
        rehash = _HASHER.hash(password) if _HASHER.check_needs_rehash(row[0]) else None
        with self.lock, self.store.transaction() as tx:
            if self._locked_meanwhile(account_id, now):
                tx.audit(account_id, "signin.refused", account_id, {"why": "locked"})
                return SignIn(False, "locked", account)
            self.store.conn.execute("UPDATE accounts SET failures = 0, locked_until = NULL WHERE id = ?",
                                    (account_id,))
            if rehash:
                self.store.conn.execute("UPDATE accounts SET hash = ? WHERE id = ?", (rehash, account_id))
            tx.audit(account_id, "signin", account_id, {"role": role})
        return SignIn(True, "ok", self._row(account_id))

    def _locked_meanwhile(self, account_id: str, now: float) -> bool:
        with self.lock:
            row = self.store.conn.execute("SELECT locked_until FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return bool(row and row[0] and row[0] > now)

    def _audit(self, actor: str, action: str, subject: str, detail: dict) -> None:
        with self.lock, self.store.transaction() as tx:
            tx.audit(actor, action, subject, detail)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > 256:
        raise AccountError("password: at most 256 characters")


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password[:256])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
