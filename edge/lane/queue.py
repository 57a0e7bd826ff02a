"""The officer queue: finished sessions wait here, sealed, until an officer decides; then a signed crossing.

A finished session (complete or handed over) is written to the `queue` table in one transaction with its
audit entry; an officer's decision turns it into a signed crossing event (the recorder's transaction) and
then removes it from the queue. If the process dies between the two, the queue hides any code that
already has a crossing event and `reconcile()` removes it at start: nothing is decided twice, nothing is
lost. While a transaction waits, its images are kept sealed in its row (`edge.store.atrest`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from edge.config import Config
from edge.events.model import (
    CheckVerdict,
    Crossing,
    Decision,
    DeclaredIdentity,
    DocumentSummary,
    FaceResult,
    FingerResult,
)
from edge.lane.document import document_summary
from edge.lane.options import Options
from edge.lane.protection import ProtectionSettings, Referrals
from edge.lane.session import Ending, Session
from edge.recorder import Recorder
from edge.store import Store
from edge.store.atrest import AtRestError, AtRestKey

log = logging.getLogger("borderpost.lane.queue")

REFUSAL_CODES: tuple[str, ...] = ("R_A", "R_B", "R_C", "R_D", "R_E", "R_F", "R_G", "R_H", "R_I")
OUTCOMES: tuple[str, ...] = ("admit", "refuse", "refer")
ATREST_KEY = "queue_samples.key"   # beside the store: the key sealing queued photos and prints


class DecisionError(Exception):
    """The decision cannot be taken (unknown code, already decided, missing reason); message is for the officer."""


# Characters a person may type for one another; transaction codes use none of 0 O 1 I 2 Z 5 S 8 B, so a typed
# look-alike is read as any member of its class (an officer reading "D" as "0", a code typed in lower case).
_LOOK_ALIKES = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "J": "1", "Z": "2", "S": "5",
                              "B": "8", "G": "6"})


def code_key(text: str) -> str:
    """A transaction code as compared: upper case, only letters and digits, look-alikes folded together."""
    return "".join(ch for ch in text.upper() if ch.isalnum()).translate(_LOOK_ALIKES)


def doc_key(number: str | None) -> str | None:
    """A document number's lookup key (hash): the booth finds a transaction by scanning the document."""
    if not number:
        return None
    return hashlib.sha256(number.strip().upper().encode()).hexdigest()


@dataclass
class Queued:
    code: str
    created_at: float
    ending: str
    data: dict[str, Any]

    @property
    def document(self) -> DocumentSummary | None:
        d = self.data.get("document")
        return DocumentSummary.model_validate(d) if d else None

    @property
    def declared(self) -> DeclaredIdentity | None:
        d = self.data.get("declared_identity")
        return DeclaredIdentity.model_validate(d) if d else None

    @property
    def answers(self) -> dict[str, str]:
        return dict(self.data.get("answers", {}))

    @property
    def face(self) -> FaceResult | None:
        d = self.data.get("face")
        return FaceResult.model_validate(d) if d else None

    @property
    def fingerprints(self) -> list[FingerResult]:
        return [FingerResult.model_validate(f) for f in self.data.get("fingerprints", [])]

    @property
    def alerts(self) -> list[str]:
        return list(self.data.get("alerts", []))

    @property
    def checks(self) -> list[CheckVerdict]:
        return [CheckVerdict.model_validate(v) for v in self.data.get("checks", [])]

    @property
    def message(self) -> str | None:
        return self.data.get("message")


class OfficerQueue:
    """The queue table, the transactions' images and the officer's decisions (the lane's store side)."""

    cfg: Config
    store: Store
    recorder: Recorder
    options: Options
    lock: threading.RLock
    changed: threading.Condition

    def _init_queue(self) -> None:
        self.images: dict[str, dict[str, bytes]] = {}     # code -> name -> JPEG/PNG bytes (recent ones; queued
                                                           # ones are also sealed in their row: images_of)
        self.scanned: tuple[int, str] = (0, "")           # (count, code) of the last document scanned at the booth
        self.queue_version = 0                             # bumped when the queue changes (booth live updates)
        try:
            self.atrest: AtRestKey | None = AtRestKey.load_or_create(self.cfg.store.path.with_name(ATREST_KEY))
        except (AtRestError, OSError) as exc:   # photos then live in memory only: say so, go on
            log.error("queued photos will not survive a restart: %s", exc)
            self.atrest = None
        from edge.lane.history import open_history

        self.history = open_history(self.cfg, self.atrest)
        self.referrals = Referrals(ProtectionSettings.from_config(self.cfg))
        from edge.lane.questions import kiosk_questions

        self.kiosk_questions = kiosk_questions(self.cfg)

    def _crossing(self, q: Queued, decision: Decision, direction: Literal["entry", "exit"] | None = None) -> Crossing:
        return Crossing(post=self.cfg.identity.post, device=self.cfg.identity.device, role="kiosk",
                        transaction=q.code, direction=direction, document=q.document, face=q.face,
                        fingerprints=q.fingerprints, alerts=q.alerts, checks=q.checks, decision=decision,
                        declared_identity=q.declared, answers=q.answers)

    def images_of(self, code: str) -> dict[str, bytes]:
        """A transaction's photos and prints: from memory while recent, else from the queue row's sealed copy
        (after a restart, or once `max_image_sets` newer transactions pushed them out of memory)."""
        got = self.images.get(code)
        if got is not None or self.atrest is None:
            return got or {}
        row = self.store.conn.execute("SELECT samples FROM queue WHERE code = ?", (code,)).fetchone()
        if row is None or row[0] is None:
            return {}
        try:
            return self.atrest.open_samples(row[0], code)
        except AtRestError as exc:
            log.warning("transaction %s: photos not readable: %s", code, exc)
            return {}

    def expire_queue(self, now: float | None = None) -> int:
        """Record transactions nobody decided within `queue_max_age_s` (outcome handover, by 'kiosk'), so the
        document data does not wait in the queue forever and the agency still learns of the traveller."""
        now = time.time() if now is None else now
        cutoff = now - self.options.queue_max_age_s
        with self.lock:
            old = [q for q in self.queue() if q.created_at < cutoff]
            for q in old:
                crossing = self._crossing(q, Decision(outcome="handover", by="kiosk", reason_codes=["queue.expired"]))
                self.recorder.record_crossing(crossing, samples=self.images_of(q.code) or None, actor="kiosk")
                with self.store.transaction() as tx:
                    self.store.conn.execute("DELETE FROM queue WHERE code = ?", (q.code,))
                    tx.audit("kiosk", "queue.expired", q.code, {})
                self.images.pop(q.code, None)
            if old:
                self.queue_version += 1
            while len(self.images) > self.options.max_image_sets:
                self.images.pop(next(iter(self.images)))
            return len(old)

    def enqueue(self, s: Session) -> None:
        """A finished session (complete or handed over) waits for an officer; its images are sealed in its row."""
        data = {"language": s.language, "reasons": s.reasons, "alerts": s.alerts(), "message": s.message(),
                "document": s.document.model_dump(mode="json") if s.document else None,
                "face": s.face.model_dump(mode="json") if s.face else None,
                "fingerprints": [f.model_dump(mode="json") for f in s.fingerprints], "answers": dict(s.answers),
                "checks": [v.model_dump(mode="json") for v in s.verdicts.values()]}
        images = self.images.get(s.code)
        sealed = self.atrest.seal_samples(images, s.code) if images and self.atrest is not None else None
        with self.store.transaction() as tx:
            self.store.conn.execute(
                "INSERT INTO queue(code, created_at, ending, data, doc_key, samples) VALUES (?,?,?,?,?,?)",
                (s.code, time.time(), s.ending.value if s.ending else Ending.HANDOVER.value, json.dumps(data),
                 doc_key(s.document.document_number if s.document else None), sealed),
            )
            tx.audit("kiosk", "kiosk.queued", s.code, {"ending": s.ending.value if s.ending else None,
                                                      "reasons": s.reasons})
        self.queue_version += 1

    def _decided(self, code: str) -> bool:
        return self.store.conn.execute(
            "SELECT 1 FROM events WHERE kind = 'crossing' AND json_extract(summary, '$.transaction') = ? "
            "AND (json_extract(summary, '$.outcome') IN ('admit', 'refuse', 'refer') "
            "OR json_extract(summary, '$.by') = 'kiosk' AND json_extract(summary, '$.outcome') = 'handover') "
            "LIMIT 1", (code,)
        ).fetchone() is not None

    def reconcile(self) -> int:
        """Remove queue rows whose decision was already recorded (a crash between the two writes)."""
        with self.lock:
            codes = [r[0] for r in self.store.conn.execute("SELECT code FROM queue").fetchall()]
            done = [c for c in codes if self._decided(c)]
            if done:
                with self.store.transaction() as tx:
                    for c in done:
                        self.store.conn.execute("DELETE FROM queue WHERE code = ?", (c,))
                        tx.audit("ui", "queue.reconciled", c, {})
            return len(done)

    def queue(self) -> list[Queued]:
        with self.lock:
            rows = self.store.conn.execute(
                "SELECT code, created_at, ending, data FROM queue ORDER BY created_at").fetchall()
            return [Queued(c, t, e, json.loads(d)) for c, t, e, d in rows if not self._decided(c)]

    def find(self, text: str) -> Queued | None:
        """By transaction code (typed or scanned from the QR), by document number, or by a scanned MRZ."""
        text = (text or "").strip().upper()[:200]
        if not text:
            return None
        with self.lock:
            typed = code_key(text) if "<" not in text and len(code_key(text)) == 8 else None
            keys = [doc_key(text)]
            if "<" in text:
                with contextlib.suppress(Exception):
                    keys.append(doc_key(document_summary(text, "booth").document_number))
            queued = self.queue()
            by_doc = [q for q in queued if doc_key(q.document.document_number if q.document else None) in keys]
            if by_doc:
                return by_doc[0]
            by_code = [q for q in queued if typed is not None and code_key(q.code) == typed]
            return by_code[0] if len(by_code) == 1 else None   # two codes alike once folded: ask for the exact one

    def history_of(self, code: str) -> dict[str, Any] | None:
        """The booth's view of this traveller's earlier crossings here, with the exit fingerprint check."""
        from edge.lane.history import view_safely

        q = self.get(code)
        return view_safely(self.history, q.document if q else None, self.images_of(code)) if q else None

    def get(self, code: str) -> Queued | None:
        with self.lock:
            return next((q for q in self.queue() if q.code == code), None)

    def booth_scan(self, mrz_text: str) -> bool:
        """A document read while no kiosk waits: if it belongs to a queued transaction, the booth opens it."""
        if self.store.conn.execute("SELECT 1 FROM queue LIMIT 1").fetchone() is None:
            return False
        try:
            number = document_summary(mrz_text, "booth").document_number
        except Exception:
            return False
        key = doc_key(number)
        row = self.store.conn.execute("SELECT code FROM queue WHERE doc_key = ? ORDER BY created_at DESC LIMIT 1",
                                      (key,)).fetchone() if key else None
        if row is None or self._decided(row[0]):
            return False
        self.scanned = (self.scanned[0] + 1, row[0])
        log.info("document scanned at the booth: transaction %s", row[0])
        return True

    def audit(self, actor: str, action: str, subject: str = "", detail: dict[str, Any] | None = None) -> None:
        with self.lock, self.store.transaction() as tx:
            tx.audit(actor, action, subject, detail or {})

    def decide(self, code: str, officer: str, outcome: Literal["admit", "refuse", "refer"], *,
               reasons: list[str], note: str, direction: Literal["entry", "exit"], confirmed: bool = False) -> str:
        """Sign the officer's decision into a crossing event; returns the event id. Admitting over a warning
        needs `confirmed` (the event and the audit log say it was), and a pending referral is sealed with it."""
        if outcome not in OUTCOMES:
            raise DecisionError("unknown outcome")
        if any(r not in REFUSAL_CODES for r in reasons):
            raise DecisionError("unknown reason code")
        if outcome == "refuse" and not reasons:
            raise DecisionError("booth.need_reason")
        with self.lock:
            q = self.get(code)
            if q is None:
                raise DecisionError("booth.not_found")
            from edge.lane.hits import open_hits

            if open_hits(q):
                raise DecisionError("booth.resolve_hits")
            from edge.lane.uncertain import open_fields

            if outcome == "admit" and open_fields(q):
                raise DecisionError("booth.confirm_document")
            over_warning = outcome == "admit" and bool(q.alerts or any(v.outcome in ("warn", "fail") for v in q.checks))
            if over_warning and not confirmed:
                raise DecisionError("booth.confirm_admit")
            codes = [*reasons, "officer.admitted_over_warning"] if over_warning else reasons
            if q.document is not None and q.document.confirmed_fields:
                codes = [*codes, "officer.confirmed_document"]
            crossing = self._crossing(
                q, Decision(outcome=outcome, by=officer, reason_codes=codes, note=note.strip() or None), direction)
            referral = self.referrals.take(code)
            try:
                rec = self.recorder.record_crossing(crossing, samples=self.images_of(code) or None, actor=officer,
                                                    referral=referral)
            except Exception:
                if referral is not None:
                    self.referrals.put_back(code, referral)
                raise
            from edge.lane.history import record_safely

            record_safely(self.history, crossing, rec.event_id, self.images_of(code))
            with self.store.transaction() as tx:
                self.store.conn.execute("DELETE FROM queue WHERE code = ?", (code,))
                tx.audit(officer, "booth.decided", code, {"outcome": outcome, "event": rec.event_id,
                                                          "over_warning": over_warning,
                                                          "referral": referral is not None})
            self.images.pop(code, None)
            self.queue_version += 1
            self.changed.notify_all()
            log.info("transaction %s decided by %s: %s (event %s)", code, officer, outcome, rec.event_id)
            return rec.event_id
