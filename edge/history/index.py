"""Traveller history at this post: earlier crossings of the same document, exits paired with entries, overstays.

Keyed by HMAC-SHA256(secret, issuing state + ':' + normalised document number) with a device secret beside
the store, so the file is no searchable registry of names or numbers: without the secret a document number
cannot be tested against it, and no name, birth date or number is stored at all. What it holds per crossing:
the keyed hash, entry or exit, the time, the event id, the nationality group and the permitted stay.

The lane calls `record(...)` when a crossing completes and `lookup(...)` for the booth.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.alerts.db import load_secret
from edge.alerts.normalise import document_key, issuing_state

DB_NAME = "history.db"
SECRET_NAME = "history_index.key"
DAY = 86400.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS crossings(
    id INTEGER PRIMARY KEY, key BLOB NOT NULL, direction TEXT NOT NULL CHECK (direction IN ('entry', 'exit')),
    at REAL NOT NULL, event_id TEXT, stay_group TEXT NOT NULL, stay_days INTEGER NOT NULL,
    paired_with INTEGER REFERENCES crossings(id), overstay_days INTEGER);
CREATE INDEX IF NOT EXISTS crossings_key ON crossings(key, at);
"""


class HistoryError(ValueError):
    """A crossing cannot be recorded or looked up (no usable document key, bad direction)."""


@dataclass(frozen=True)
class StayRules:
    """Permitted stay in days per nationality group (`[history]` of the config)."""

    default_days: int = 90
    days: Mapping[str, int] | None = None
    groups: Mapping[str, list[str]] | None = None

    @classmethod
    def from_config(cls, history: Any) -> StayRules:
        return cls(history.default_stay_days, dict(history.stay_days), dict(history.groups))

    def for_nationality(self, nationality: str | None) -> tuple[str, int]:
        nat = issuing_state(nationality)
        for name, members in (self.groups or {}).items():
            if nat in {issuing_state(m) for m in members}:
                return name, int((self.days or {})[name])
        return "default", self.default_days


@dataclass(frozen=True)
class Recorded:
    id: int
    direction: str
    paired_entry_at: float | None
    stayed_days: float | None
    permitted_days: int
    overstay_days: int | None     # days past the permitted stay, when this exit came too late


def overstay(entry_at: float, exit_at: float, permitted_days: int) -> int | None:
    """Whole days past the permitted stay (the day of entry counts as day one), None when within it."""
    days = int((exit_at - entry_at) // DAY) + 1
    return days - permitted_days if days > permitted_days else None


class TravellerHistory:
    def __init__(self, path: Path, secret: bytes, rules: StayRules | None = None) -> None:
        self.path = path
        self.secret = secret
        self.rules = rules or StayRules()
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)

    @classmethod
    def beside(cls, store_path: Path, history_cfg: Any = None) -> TravellerHistory:
        d = store_path.parent
        d.mkdir(parents=True, exist_ok=True)
        rules = StayRules.from_config(history_cfg) if history_cfg is not None else None
        return cls(d / DB_NAME, load_secret(d / SECRET_NAME), rules)

    def close(self) -> None:
        self.conn.close()

    def key(self, state: str | None, number: str | None) -> bytes:
        k = document_key(state, number)
        if not k:
            raise HistoryError("no issuing state and document number to key the history by")
        return hmac.new(self.secret, k.encode(), hashlib.sha256).digest()

    def record(self, *, direction: str, issuing_state: str | None, document_number: str | None,
               nationality: str | None = None, at: float | None = None, event_id: str | None = None) -> Recorded:
        """Record one crossing; an exit is paired with the latest unpaired entry and flagged when overstayed."""
        if direction not in ("entry", "exit"):
            raise HistoryError(f"direction must be entry or exit, got {direction!r}")
        key = self.key(issuing_state, document_number)
        at = time.time() if at is None else at
        group, days = self.rules.for_nationality(nationality)
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                entry = None
                if direction == "exit":
                    entry = self.conn.execute(
                        "SELECT id, at, stay_days FROM crossings WHERE key=? AND direction='entry' AND at<=? "
                        "AND id NOT IN (SELECT paired_with FROM crossings WHERE paired_with IS NOT NULL) "
                        "ORDER BY at DESC LIMIT 1", (key, at)).fetchone()
                over = overstay(entry[1], at, entry[2]) if entry else None
                cur = self.conn.execute(
                    "INSERT INTO crossings(key, direction, at, event_id, stay_group, stay_days, paired_with, "
                    "overstay_days) VALUES (?,?,?,?,?,?,?,?)",
                    (key, direction, at, event_id, group, days, entry[0] if entry else None, over))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        permitted = entry[2] if entry else days
        return Recorded(int(cur.lastrowid or 0), direction, entry[1] if entry else None,
                        (at - entry[1]) / DAY if entry else None, permitted, over)

    def lookup(self, issuing_state: str | None, document_number: str | None,
               now: float | None = None) -> dict[str, Any]:
        """Earlier crossings at this post as stays (entry paired with exit), newest first, and the open stay."""
        key = self.key(issuing_state, document_number)
        now = time.time() if now is None else now
        with self._lock:
            rows = self.conn.execute(
                "SELECT id, direction, at, event_id, stay_days, paired_with, overstay_days FROM crossings "
                "WHERE key=? ORDER BY at", (key,)).fetchall()
        by_id = {r[0]: r for r in rows}
        exits_for = {r[5]: r for r in rows if r[1] == "exit" and r[5] is not None}
        stays: list[dict[str, Any]] = []
        for r in rows:
            if r[1] == "entry":
                ex = exits_for.get(r[0])
                stay: dict[str, Any] = {"entry_at": r[2], "entry_event": r[3], "permitted_days": r[4],
                                        "exit_at": ex[2] if ex else None, "exit_event": ex[3] if ex else None}
                if ex:
                    stay["overstay_days"] = ex[6]
                else:
                    stay["open"] = True
                    stay["overstay_days"] = overstay(r[2], now, r[4])
                stay["overstay"] = bool(stay["overstay_days"])
                stays.append(stay)
            elif r[5] is None or r[5] not in by_id:
                stays.append({"entry_at": None, "exit_at": r[2], "exit_event": r[3], "unpaired_exit": True,
                              "overstay": False, "overstay_days": None})
        stays.sort(key=lambda s: max(s.get("entry_at") or 0, s.get("exit_at") or 0), reverse=True)
        return {"crossings": len(rows), "stays": stays,
                "overstay": any(s["overstay"] for s in stays),
                "in_country": any(s.get("open") for s in stays)}
