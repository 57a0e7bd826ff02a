"""The traveller's history at this post, in the crossing: recorded at the officer's decision, shown in the booth,
and the exit fingerprint verified against the templates taken at the entry.

Entries keep the minutiae templates (ISO/IEC 19794-2:2011, no images) of their acceptable fingerprints, sealed
with the device-local at-rest key and keyed like the history itself by a keyed hash of the document (never a
number or a name); a template is deleted once its exit is paired, or after the permitted stay plus a margin.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers import safe_image
from edge.events.model import Crossing, DocumentSummary
from edge.history.index import DAY, HistoryError, TravellerHistory
from edge.store.atrest import AtRestError, AtRestKey

log = logging.getLogger("borderpost.history")

TEMPLATES_DB = "finger_templates.db"
KEEP_AFTER_STAY_DAYS = 30
_SCHEMA = """
CREATE TABLE IF NOT EXISTS templates(key BLOB NOT NULL, finger TEXT NOT NULL, sealed BLOB NOT NULL,
                                     at REAL NOT NULL, keep_until REAL NOT NULL, PRIMARY KEY (key, finger));
"""


@dataclass(frozen=True)
class ExitMatch:
    """The exit's prints against the entry's templates: the best score per finger both crossings have."""

    compared: dict[str, int]
    threshold: int

    @property
    def match(self) -> bool | None:
        if not self.compared:
            return None
        return any(score >= self.threshold for score in self.compared.values())


class LaneHistory:
    def __init__(self, store_path: Path, history_cfg: Any, atrest: AtRestKey | None) -> None:
        self.index = TravellerHistory.beside(store_path, history_cfg)
        self.atrest = atrest
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(store_path.with_name(TEMPLATES_DB), check_same_thread=False,
                                    isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.index.close()
        self.conn.close()

    def _key(self, doc: DocumentSummary | None) -> bytes | None:
        if doc is None:
            return None
        try:
            return self.index.key(doc.issuing_state, doc.document_number)
        except HistoryError:
            return None

    def view(self, doc: DocumentSummary | None, finger_images: dict[str, bytes] | None = None,
             now: float | None = None) -> dict[str, Any] | None:
        """Earlier crossings of this document here (stays, overstay, in the country), and the exit check."""
        key = self._key(doc)
        if key is None or doc is None:
            return None
        out = self.index.lookup(doc.issuing_state, doc.document_number, now)
        if out["in_country"] and finger_images:
            m = self.exit_match(key, finger_images)
            if m is not None:
                out["exit_finger_match"] = {"match": m.match, "scores": m.compared, "threshold": m.threshold}
        return out

    def record(self, crossing: Crossing, event_id: str, finger_images: dict[str, bytes] | None = None,
               at: float | None = None) -> dict[str, Any] | None:
        """After the officer's decision: the crossing in the index; an entry's templates kept for its exit."""
        doc, direction = crossing.document, crossing.direction
        key = self._key(doc)
        if key is None or doc is None or direction is None or crossing.decision.outcome != "admit":
            return None
        at = time.time() if at is None else at
        rec = self.index.record(direction=direction, issuing_state=doc.issuing_state,
                                document_number=doc.document_number, nationality=doc.nationality, at=at,
                                event_id=event_id)
        with self._lock:
            if direction == "exit":
                self.conn.execute("DELETE FROM templates WHERE key = ?", (key,))
            elif finger_images and self.atrest is not None:
                keep = at + (rec.permitted_days + KEEP_AFTER_STAY_DAYS) * DAY
                for finger, template in _templates(finger_images).items():
                    sealed = self.atrest.seal(template, f"template:{finger}")
                    self.conn.execute("INSERT OR REPLACE INTO templates VALUES (?,?,?,?,?)",
                                      (key, finger, sealed, at, keep))
            self.conn.execute("DELETE FROM templates WHERE keep_until < ?", (at,))
        return {"direction": rec.direction, "stayed_days": rec.stayed_days, "overstay_days": rec.overstay_days}

    def exit_match(self, key: bytes, finger_images: dict[str, bytes]) -> ExitMatch | None:
        from edge.biometrics.finger import match

        with self._lock:
            rows = self.conn.execute("SELECT finger, sealed FROM templates WHERE key = ?", (key,)).fetchall()
        if not rows or self.atrest is None:
            return None
        entry: dict[str, bytes] = {}
        for finger, sealed in rows:
            with contextlib.suppress(AtRestError):
                entry[finger] = self.atrest.open(sealed, f"template:{finger}")
        scores: dict[str, int] = {}
        for finger, probe in _templates(finger_images).items():
            if finger in entry:
                with contextlib.suppress(match.BadTemplate):
                    scores[finger] = match.verify(probe, entry[finger]).score
        return ExitMatch(scores, match.THRESHOLD)


def _templates(finger_images: dict[str, bytes]) -> dict[str, bytes]:
    """finger -> 19794-2 template from the session's PNG prints (`finger_<name>.png`); unusable prints skipped."""
    from edge.biometrics.finger import match, nfiq2

    out: dict[str, bytes] = {}
    for name, png in finger_images.items():
        if not (name.startswith("finger_") and name.endswith(".png")):
            continue
        try:
            gray = safe_image.decode(png, gray=True)
        except safe_image.ImageRejected:
            continue
        try:
            out[name.removeprefix("finger_").removesuffix(".png")] = match.template(gray)
        except (nfiq2.Nfiq2Failed, nfiq2.Nfiq2Unavailable) as exc:
            log.warning("no template from a print: %s", type(exc).__name__)
    return out


def open_history(cfg: Any, atrest: AtRestKey | None) -> LaneHistory | None:
    """The post's history beside the store; None (logged) when it cannot be opened: crossings go on without it."""
    try:
        return LaneHistory(cfg.store.path, cfg.history, atrest)
    except (OSError, sqlite3.Error) as exc:
        log.error("traveller history unavailable: %s", exc)
        return None


def record_safely(history: LaneHistory | None, crossing: Crossing, event_id: str,
                  images: dict[str, bytes] | None) -> None:
    """Record the decided crossing in the history; a failure is logged, never blocks the officer's decision."""
    if history is None:
        return
    try:
        history.record(crossing, event_id, images)
    except (OSError, sqlite3.Error, HistoryError, AtRestError) as exc:
        log.error("crossing not added to the traveller history: %s", exc)


def view_safely(history: LaneHistory | None, doc: DocumentSummary | None,
                images: dict[str, bytes] | None) -> dict[str, Any] | None:
    if history is None:
        return None
    try:
        return history.view(doc, images)
    except (OSError, sqlite3.Error, HistoryError, AtRestError) as exc:
        log.error("traveller history not readable: %s", exc)
        return None
