"""The UIs' runtime: kiosk sessions, the booth's queue, decisions, and the hand-off to the store.

Each kiosk screen (a browser with its own cookie) has one `edge.session.Session`. A finished kiosk
session (complete or handed over) is written to the `queue` table in one transaction with its audit
entry; an officer's decision turns it into a signed crossing event (the recorder's transaction) and then
removes it from the queue. If the process dies between the two, the queue hides any code that already
has a crossing event and `reconcile()` removes it at start: nothing is decided twice, nothing is lost.
Images (portrait, live photo, fingerprints) go into the crossing as samples (sealed to the agency when its
key is configured); while a transaction waits for an officer they are kept sealed in its queue row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from drivers.contract import DeviceKind
from edge.config import UI, Config
from edge.devices import DeviceSet
from edge.events.model import Crossing, Decision, DocumentSummary, FaceResult, FingerResult
from edge.recorder import Recorder
from edge.session import Ending, Rules, Session, SessionError, Step, Timing
from edge.station import document_summary, new_transaction_code
from edge.store import Store
from edge.store.atrest import AtRestError, AtRestKey

log = logging.getLogger("borderpost.ui")

REFUSAL_CODES: tuple[str, ...] = ("R_A", "R_B", "R_C", "R_D", "R_E", "R_F", "R_G", "R_H", "R_I")
OUTCOMES: tuple[str, ...] = ("admit", "refuse", "refer")


class DecisionError(Exception):
    """The decision cannot be taken (unknown code, already decided, missing reason); message is for the officer."""


@dataclass
class Options:
    """Tunables of the UIs: the post's `[ui]` settings (`from_config`); tests shorten the clocks."""

    timing: Timing = field(default_factory=Timing)
    retries: int = 2
    face_attempt_s: float = 8.0
    finger_attempt_s: float = 10.0
    officer_idle_s: float = 300.0
    officer_idle_warn_s: float = 60.0
    max_failures: int = 5
    lockout_s: float = 300.0
    secure_cookies: bool = False         # set when served over HTTPS (behind a TLS proxy)
    max_body_bytes: int = 64 * 1024
    max_streams_per_client: int = 3
    max_streams: int = 64
    max_kiosk_screens: int = 8          # kiosk browser sessions kept; the least recently used is dropped
    queue_max_age_s: float = 12 * 3600  # a transaction no officer opened is recorded as an undecided hand-over
    max_image_sets: int = 64            # transactions whose images are kept in memory (oldest dropped)

    @classmethod
    def from_config(cls, ui: UI) -> Options:
        """The post's `[ui]` settings; the limits on requests and memory stay in code."""
        return cls(
            timing=Timing(language=ui.language_timeout_s, document=ui.document_timeout_s, face=ui.face_timeout_s,
                          fingers=ui.fingers_timeout_s, result=ui.result_screen_s, warn_before=ui.warn_before_s),
            retries=ui.retries, face_attempt_s=ui.face_attempt_s, finger_attempt_s=ui.finger_attempt_s,
            officer_idle_s=ui.officer_idle_s, officer_idle_warn_s=ui.officer_idle_warn_s,
            max_failures=ui.max_failures, lockout_s=ui.lockout_s, secure_cookies=ui.secure_cookies,
            queue_max_age_s=ui.queue_max_age_s,
        )


ATREST_KEY = "queue_samples.key"   # beside the store: the key sealing queued photos and prints


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
    def face(self) -> FaceResult | None:
        d = self.data.get("face")
        return FaceResult.model_validate(d) if d else None

    @property
    def fingerprints(self) -> list[FingerResult]:
        return [FingerResult.model_validate(f) for f in self.data.get("fingerprints", [])]

    @property
    def alerts(self) -> list[str]:
        return list(self.data.get("alerts", []))


PortraitProvider = Callable[[DocumentSummary], "np.ndarray | None"]


class Hub:
    def __init__(self, cfg: Config, store: Store, recorder: Recorder, devices: DeviceSet,
                 options: Options | None = None, portrait_provider: PortraitProvider | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.store = store
        self.recorder = recorder
        self.devices = devices
        self.options = options or Options.from_config(cfg.ui)
        self.rules = Rules(fingerprints=tuple(cfg.policy.fingerprints),
                           face_match_required=cfg.policy.face_match_required,
                           retries=self.options.retries, timing=self.options.timing)
        self.portrait_provider = portrait_provider
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.kiosks: dict[str, Session] = {}
        self.images: dict[str, dict[str, bytes]] = {}     # code -> name -> JPEG/PNG bytes (recent ones; queued
                                                           # ones are also sealed in their row: images_of)
        self.portrait_jobs: dict[str, Future] = {}         # kiosk session code -> its document portrait (coming)
        self._portrait_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-portrait")
        self.last_frame: bytes | None = None               # latest camera JPEG, for the kiosk preview
        self.scanned: tuple[int, str] = (0, "")           # (count, code) of the last document scanned at the booth
        self.queue_version = 0                             # bumped when the queue changes (booth live updates)
        self.workers: Any = None                           # kiosk_ui.workers.Workers, set by the app
        self.attached = False                              # documents come from the station (see UIServer.attach)
        self._test_read: queue.Queue[str] | None = None   # a technician's test read waits here
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        try:
            self.atrest: AtRestKey | None = AtRestKey.load_or_create(cfg.store.path.with_name(ATREST_KEY))
        except (AtRestError, OSError) as exc:   # photos then live in memory only, as before: say so, go on
            log.error("queued photos will not survive a restart: %s", exc)
            self.atrest = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.reconcile()
        self._ticker = threading.Thread(target=self._tick_loop, name="ui-ticker", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        self._portrait_pool.shutdown(wait=False, cancel_futures=True)
        with self.changed:
            self.changed.notify_all()
        if self._ticker:
            self._ticker.join(5)

    def _tick_loop(self) -> None:
        next_expiry = 0.0
        while not self._stop.wait(0.25):
            try:
                self.tick()
                if time.monotonic() >= next_expiry:
                    next_expiry = time.monotonic() + 60
                    self.expire_queue()
            except Exception:  # the kiosk must keep running; the log says what broke
                log.exception("ui tick failed")

    def portrait_of(self, code: str, timeout: float) -> np.ndarray | None:
        """The document portrait of a kiosk session, waiting up to `timeout` for the provider still at work
        (it started when the document was read, so it is usually done by the time a face is captured)."""
        with self.lock:
            job = self.portrait_jobs.get(code)
        if job is None:
            return None
        try:
            return job.result(timeout=timeout)     # a finished job keeps its result: no second copy needed
        except (FutureTimeout, CancelledError):
            return None
        except Exception:   # a provider bug: no portrait, the traveller goes to an officer
            log.exception("portrait provider failed")
            return None

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
                crossing = Crossing(
                    post=self.cfg.identity.post, device=self.cfg.identity.device, role="kiosk", transaction=q.code,
                    document=q.document, face=q.face, fingerprints=q.fingerprints, alerts=q.alerts,
                    decision=Decision(outcome="handover", by="kiosk", reason_codes=["queue.expired"]))
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

    def tick(self) -> None:
        now = self.clock()
        with self.lock:
            for kid, s in list(self.kiosks.items()):
                was_finished, version = s.finished, s.version
                t = s.tick(now)
                if s.finished:
                    self._finish(s)   # idempotent: written once, whoever ended the session
                    if kid.startswith("booth:"):
                        del self.kiosks[kid]                     # an attended session has no screen to reset
                        continue
                    if not was_finished and s.ending is Ending.ABANDONED and not s.started:
                        self.kiosks[kid] = self._new_session(now)   # nobody was there: just start over
                    elif was_finished and t.expired:
                        self.kiosks[kid] = self._new_session(now)   # result screen shown long enough: reset
                if s.version != version or t.warn or self.kiosks[kid] is not s:
                    self.changed.notify_all()

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # ---------------------------------------------------------------- kiosk
    def _new_session(self, now: float) -> Session:
        return Session(new_transaction_code(), self.rules, now=now)

    def kiosk(self, kid: str) -> Session:
        with self.lock:
            s = self.kiosks.get(kid)
            if s is None:
                s = self.kiosks[kid] = self._new_session(self.clock())
            return s

    def forget_kiosk(self, kid: str) -> None:
        """A kiosk screen's session was dropped: a traveller's unfinished session is abandoned and recorded."""
        with self.lock:
            s = self.kiosks.pop(kid, None)
            if s is not None and not s.finished:
                s.cancel(self.clock())
                self._finish(s)

    def kiosk_action(self, kid: str, action: str, arg: str | None = None) -> Session:
        """A traveller's button. Raises SessionError for an action the step does not accept."""
        now = self.clock()
        with self.lock:
            s = self.kiosk(kid)
            if action == "language":
                s.choose_language(arg or "", now)
            elif action == "set_language":
                s.set_language(arg or "")
            elif action == "cancel":
                s.cancel(now)
            elif action == "help":
                s.ask_for_help(now)
            elif action == "more_time":
                s.extend(now)
            elif action == "finish":
                if not s.finished:
                    raise SessionError("not finished")
                s = self.kiosks[kid] = self._new_session(now)
            else:
                raise SessionError(f"unknown action {action!r}")
            self._after_change(s)
            return s

    def _after_change(self, s: Session) -> None:
        """Start the step's device work, or write the finished session; wake the live streams."""
        if s.finished:
            self._finish(s)
        elif s.step is Step.DOCUMENT and self.devices.first(DeviceKind.MRZ) is None:
            s.device_unavailable("document", self.clock())
            self._finish(s)
        elif s.step in (Step.FACE, Step.FINGERS) and self.workers is not None:
            self.workers.ensure(s)
        self.changed.notify_all()

    def waiting_for_document(self) -> Session | None:
        with self.lock:
            waiting = [s for s in self.kiosks.values() if s.step is Step.DOCUMENT]
            return min(waiting, key=lambda s: s.entered_at) if waiting else None

    def next_document(self, timeout: float) -> str | None:
        """A technician's test read: the next document the station reads, or None after `timeout`."""
        slot: queue.Queue[str] = queue.Queue(1)
        self._test_read = slot
        try:
            return slot.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            self._test_read = None

    def offer_document(self, mrz_text: str, source: str) -> bool:
        """A document was read. True when a test read or a kiosk session waiting for one took it."""
        slot = self._test_read
        if slot is not None:
            try:
                slot.put_nowait(mrz_text)
                return True
            except queue.Full:
                pass
        with self.lock:
            s = self.waiting_for_document()
            if s is None:
                if self._booth_scan(mrz_text):
                    return True
                if self.cfg.identity.role != "booth":
                    return False
                s = self._walk_up()
            self._take_document(s, mrz_text, source)
            return True

    def _walk_up(self) -> Session:
        """An attended booth: a traveller's document read at the desk starts a session the officer oversees
        (the same state machine, no kiosk screen); when it ends, the booth opens it like a kiosk's."""
        now = self.clock()
        s = self._new_session(now)
        s.choose_language(self.cfg.ui.default_language, now)
        s.attended = True  # type: ignore[attr-defined]
        self.kiosks[f"booth:{s.code}"] = s
        return s

    def _take_document(self, s: Session, mrz_text: str, source: str) -> None:
        now = self.clock()
        try:
            doc = document_summary(mrz_text, source)
        except Exception:  # a reader's garbage must never reach the traveller as an error page
            log.warning("document from %s could not be parsed", source)
            s.document_unreadable(now)
            self._after_change(s)
            return
        if doc.format is None:
            s.document_unreadable(now)
        else:
            s.document_read(doc, now)
            if self.portrait_provider is not None:
                # off the hub's lock: imaging the page takes up to seconds, the booth must not wait for it
                self.portrait_jobs[s.code] = self._portrait_pool.submit(self.portrait_provider, doc)
        log.info("session %s: document taken (valid=%s)", s.code, doc.valid)
        self._after_change(s)

    def _booth_scan(self, mrz_text: str) -> bool:
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

    def _finish(self, s: Session) -> None:
        """Write a finished session: to the queue (complete/hand-over) or as an abandoned crossing."""
        if getattr(s, "_written", False):
            return
        s._written = True  # type: ignore[attr-defined]
        job = self.portrait_jobs.pop(s.code, None)
        if job is not None:
            job.cancel()
        if s.ending is Ending.ABANDONED:
            self.images.pop(s.code, None)
            if s.started:
                crossing = s.abandoned_crossing(post=self.cfg.identity.post, device=self.cfg.identity.device)
                self.recorder.record_crossing(crossing, actor="kiosk")
            return
        data = {"language": s.language, "reasons": s.reasons, "alerts": s.alerts(),
                "document": s.document.model_dump(mode="json") if s.document else None,
                "face": s.face.model_dump(mode="json") if s.face else None,
                "fingerprints": [f.model_dump(mode="json") for f in s.fingerprints]}
        images = self.images.get(s.code)
        sealed = self.atrest.seal_samples(images, s.code) if images and self.atrest is not None else None
        with self.store.transaction() as tx:
            self.store.conn.execute(
                "INSERT INTO queue(code, created_at, ending, data, doc_key, samples) VALUES (?,?,?,?,?,?)",
                (s.code, time.time(), s.ending.value if s.ending else "handover", json.dumps(data),
                 doc_key(s.document.document_number if s.document else None), sealed),
            )
            tx.audit("kiosk", "kiosk.queued", s.code, {"ending": s.ending.value if s.ending else None,
                                                      "reasons": s.reasons})
        self.queue_version += 1
        if getattr(s, "attended", False):
            self.scanned = (self.scanned[0] + 1, s.code)     # the officer at the booth sees it at once
        log.info("kiosk %s: %s, queued for an officer", s.code, s.ending)

    # ---------------------------------------------------------------- booth
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
            code = text if len(text) == 9 and text[4] == "-" else None
            keys = [doc_key(text)]
            if code is None and "<" in text:
                with contextlib.suppress(Exception):
                    keys.append(doc_key(document_summary(text, "booth").document_number))
            for q in self.queue():
                if q.code == code or doc_key(q.document.document_number if q.document else None) in keys:
                    return q
            return None

    def get(self, code: str) -> Queued | None:
        with self.lock:
            return next((q for q in self.queue() if q.code == code), None)

    def audit(self, actor: str, action: str, subject: str = "", detail: dict[str, Any] | None = None) -> None:
        with self.lock, self.store.transaction() as tx:
            tx.audit(actor, action, subject, detail or {})

    def decide(self, code: str, officer: str, outcome: Literal["admit", "refuse", "refer"], *,
               reasons: list[str], note: str, direction: Literal["entry", "exit"]) -> str:
        """Sign the officer's decision into a crossing event; returns the event id."""
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
            crossing = Crossing(
                post=self.cfg.identity.post, device=self.cfg.identity.device, role="kiosk", transaction=code,
                direction=direction, document=q.document, face=q.face, fingerprints=q.fingerprints,
                alerts=q.alerts,
                decision=Decision(outcome=outcome, by=officer, reason_codes=reasons, note=note.strip() or None),
            )
            rec = self.recorder.record_crossing(crossing, samples=self.images_of(code) or None, actor=officer)
            with self.store.transaction() as tx:
                self.store.conn.execute("DELETE FROM queue WHERE code = ?", (code,))
                tx.audit(officer, "booth.decided", code, {"outcome": outcome, "event": rec.event_id})
            self.images.pop(code, None)
            self.queue_version += 1
            self.changed.notify_all()
            log.info("transaction %s decided by %s: %s (event %s)", code, officer, outcome, rec.event_id)
            return rec.event_id
