"""The lane: one crossing end to end, whoever drives it (auto mode, the kiosk, the booth).

It owns the devices' use for a traveller, the sessions (`edge.lane.session`), the steps' device work
(`edge.lane.steps`), the document portrait (`edge.lane.portrait`), recording (`edge.recorder`) and the
officer queue (`edge.lane.queue`). Auto mode (`auto_crossing`) runs a whole session in the caller's
thread and records it at once; a kiosk screen (a browser with its own cookie) has one session that its
buttons and the lane's step workers move on, and a finished one waits in the queue for an officer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from drivers.contract import DeviceKind
from edge.config import Config
from edge.devices import DeviceSet
from edge.events.model import Decision, DocumentSummary
from edge.heap import release_free_heap
from edge.lane.checks import build_checks
from edge.lane.document import document_summary, new_transaction_code
from edge.lane.options import Options
from edge.lane.portrait import PortraitProvider, page_portrait_provider, simulated_portrait
from edge.lane.queue import OfficerQueue
from edge.lane.session import Ending, Rules, Session, SessionError, Step
from edge.lane.steps import Steps, chip_device, chip_reader, load_csca_store
from edge.recorder import Recorded, Recorder
from edge.store import Store

log = logging.getLogger("borderpost.lane")

KIOSK_ACTIONS = ("language", "set_language", "cancel", "help", "more_time", "finish", "finger_injured",
                 "finger_missing")


class Lane(OfficerQueue):
    def __init__(self, cfg: Config, store: Store, recorder: Recorder, devices: DeviceSet,
                 options: Options | None = None, portrait_provider: PortraitProvider | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.store = store
        self.recorder = recorder
        self.devices = devices
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.checks = build_checks(cfg)
        self.csca_store = load_csca_store(cfg)
        self.steps = Steps(self)
        self.set_options(options or Options.from_config(cfg.ui))
        # a real post's page camera gives the portrait; on a simulated post the face camera's own image
        self.portrait_provider = portrait_provider if portrait_provider is not None else \
            page_portrait_provider(cfg, devices, self.steps.analyzer) or simulated_portrait(cfg)
        self.kiosks: dict[str, Session] = {}
        self.portrait_jobs: dict[str, Future] = {}         # session code -> its document portrait (coming)
        self._portrait_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lane-portrait")
        self.last_frame: bytes | None = None               # latest camera JPEG, for the kiosk preview
        self.mrz_for_chip: dict[str, str] = {}             # the MRZ text, in memory while the chip step needs it
        self.attached = False                              # a station hands its document reads to the kiosk
        self._auto: set[str] = set()                       # codes of sessions auto mode runs
        self._test_read: queue.Queue[str] | None = None   # a technician's test read waits here
        self._stop = threading.Event()
        self._halts: list[threading.Event] = [self._stop]
        self._ticker: threading.Thread | None = None
        self._init_queue()

    # ---------------------------------------------------------------- the post's rules
    def set_options(self, options: Options) -> None:
        self.options = options
        with_chip = chip_device(self.devices) is not None and chip_reader(self.csca_store) is not None
        fingers = tuple(self.cfg.policy.fingerprints)
        base = dict(face_match_required=self.cfg.policy.face_match_required, retries=options.retries,
                    timing=options.timing, chip=with_chip, checks=self.checks,
                    finger_fallback=self.cfg.policy.finger_fallback)
        self.rules = Rules(fingerprints=fingers, **base)
        # auto mode takes a face and prints only when the post has those devices (no one to hand over to)
        camera = self.devices.first(DeviceKind.CAMERA, exclude=self.cfg.policy.portrait_camera)
        sensor = self.devices.first(DeviceKind.FINGERPRINT)
        self.auto_rules = Rules(fingerprints=fingers if sensor is not None else (), face=camera is not None, **base)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.reconcile()
        self._ticker = threading.Thread(target=self._tick_loop, name="lane-ticker", daemon=True)
        self._ticker.start()

    def stop_with(self, event: threading.Event) -> None:
        """Also stop the device work when `event` is set (the station's stop: a device loop must not outlive it)."""
        self._halts.append(event)

    def stopping(self) -> bool:
        return any(e.is_set() for e in self._halts)

    def stop(self) -> None:
        self._stop.set()
        self._portrait_pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.portrait_provider, "close", None)
        if callable(close):
            close()
        with self.changed:
            self.changed.notify_all()
        if self._ticker:
            self._ticker.join(5)
        left = self.steps.join()
        if left:
            log.warning("still working when stopped: %s", ", ".join(left))

    def _tick_loop(self) -> None:
        next_expiry = 0.0
        while not self._stop.wait(0.25):
            try:
                self.tick()
                if time.monotonic() >= next_expiry:
                    next_expiry = time.monotonic() + 60
                    self.expire_queue()
            except Exception:  # the kiosk must keep running; the log says what broke
                log.exception("lane tick failed")

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

    # ---------------------------------------------------------------- the portrait
    def portrait_of(self, code: str, timeout: float) -> np.ndarray | None:
        """The document portrait of a session, waiting up to `timeout` for the provider still at work
        (it started when the document was read, so it is usually done by the time a face is captured)."""
        with self.lock:
            job = self.portrait_jobs.get(code)
        if job is None:
            return None
        try:
            return job.result(timeout=timeout)
        except (FutureTimeout, CancelledError):
            return None
        except Exception:   # a provider bug: no portrait, the traveller goes to an officer
            log.exception("portrait provider failed")
            return None

    def use_portrait(self, code: str, image: np.ndarray) -> None:
        """A better reference than the page camera's (the chip's DG2): the face step compares with it."""
        done: Future = Future()
        done.set_result(image)
        with self.lock:
            old = self.portrait_jobs.get(code)
            if old is not None:
                old.cancel()
            self.portrait_jobs[code] = done

    # ---------------------------------------------------------------- auto mode
    def auto_crossing(self, mrz_text: str, source: str) -> Recorded:
        """One traveller in auto mode: the whole session in this thread, recorded at once. Raises StorageFull."""
        now = self.clock()
        s = Session(new_transaction_code(), self.auto_rules, now=now)
        s.choose_language(self.cfg.ui.default_language, now)
        self._auto.add(s.code)
        try:
            with self.lock:
                self._take_document(s, mrz_text, source)
            while not s.finished:
                if self.stopping():         # the post is shutting down: this traveller's session ends here
                    s.cancel(self.clock())
                    break
                step, version = s.step, s.version
                if step is Step.DOCUMENT:      # unreadable, with tries left: nobody will present it again
                    s.device_unavailable("document", self.clock())
                    break
                self.steps.run(s)
                if not s.finished and s.step is step and s.version == version and not self.stopping():
                    kind = {Step.CHIP: "chip", Step.FACE: "face"}.get(step, "finger")
                    s.device_unavailable(kind, self.clock())  # type: ignore[arg-type]
            outcome = "recorded" if s.ending is Ending.COMPLETE else (s.ending or Ending.HANDOVER).value
            decision = Decision(outcome=outcome, by="kiosk", reason_codes=[] if outcome == "recorded" else s.reasons)
            crossing = s.crossing(post=self.cfg.identity.post, device=self.cfg.identity.device,
                                  decision=decision, role=self.cfg.identity.role)
            with self.lock:    # the UIs share the store connection
                return self.recorder.record_crossing(crossing, samples=self.images.get(s.code) or None,
                                                     actor="station")
        finally:
            with self.lock:
                self._auto.discard(s.code)
                self.mrz_for_chip.pop(s.code, None)
                self.images.pop(s.code, None)
                job = self.portrait_jobs.pop(s.code, None)
                if job is not None:
                    job.cancel()

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
            elif action in ("finger_injured", "finger_missing"):
                s.finger_unavailable("injured" if action == "finger_injured" else "missing", now)
            elif action == "finish":
                if not s.finished:
                    raise SessionError("not finished")
                s = self.kiosks[kid] = self._new_session(now)
            else:
                raise SessionError(f"unknown action {action!r}")
            self.after_change(s)
            return s

    def after_change(self, s: Session) -> None:
        """Start the step's device work, or write the finished session; wake the live streams."""
        if s.code in self._auto:
            self.changed.notify_all()
            return
        if s.finished:
            self._finish(s)
        elif s.step is Step.DOCUMENT and self.devices.first(DeviceKind.MRZ) is None:
            s.device_unavailable("document", self.clock())
            self._finish(s)
        elif s.step in (Step.CHIP, Step.FACE, Step.FINGERS):
            self.steps.ensure(s)
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

    def offer_document(self, mrz_text: str, source: str, doc: DocumentSummary | None = None) -> bool:
        """A document was read (`doc`: already read from an image). True when a test read, a waiting kiosk
        session or the booth took it."""
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
                if self.booth_scan(mrz_text):
                    return True
                if self.cfg.identity.role != "booth":
                    return False
                s = self._walk_up()
            self._take_document(s, mrz_text, source, doc)
            return True

    def _walk_up(self) -> Session:
        """An attended booth: a traveller's document read at the desk starts a session the officer oversees
        (the same state machine, no kiosk screen); when it ends, the booth opens it like a kiosk's."""
        now = self.clock()
        s = self._new_session(now)
        s.choose_language(self.cfg.ui.default_language, now)
        s.attended = True
        self.kiosks[f"booth:{s.code}"] = s
        return s

    def _take_document(self, s: Session, mrz_text: str, source: str, doc: DocumentSummary | None = None) -> None:
        now = self.clock()
        try:
            doc = doc or document_summary(mrz_text, source)
        except Exception:  # a reader's garbage must never reach the traveller as an error page
            log.warning("document from %s could not be parsed", source)
            s.document_unreadable(now)
            self.after_change(s)
            return
        if doc.format is None:
            s.document_unreadable(now)
        else:
            s.document_read(doc, now)
            if s.step is Step.CHIP:
                self.mrz_for_chip[s.code] = mrz_text
            if self.portrait_provider is not None and not s.finished:
                # off the lane's lock: imaging the page takes up to seconds, the booth must not wait for it
                self.portrait_jobs[s.code] = self._portrait_pool.submit(self.portrait_provider, doc)
        log.info("session %s: document taken (valid=%s)", s.code, doc.valid)
        self.after_change(s)

    def _finish(self, s: Session) -> None:
        """Write a finished kiosk session: to the queue (complete/hand-over) or as an abandoned crossing."""
        if s.written:
            return
        s.written = True
        release_free_heap()        # what the face and finger steps freed goes back before the next traveller
        self.mrz_for_chip.pop(s.code, None)
        job = self.portrait_jobs.pop(s.code, None)
        if job is not None:
            job.cancel()
        if s.ending is Ending.ABANDONED:
            self.images.pop(s.code, None)
            if s.started:
                crossing = s.abandoned_crossing(post=self.cfg.identity.post, device=self.cfg.identity.device)
                self.recorder.record_crossing(crossing, actor="kiosk")
            return
        self.enqueue(s)
        if s.attended:
            self.scanned = (self.scanned[0] + 1, s.code)     # the officer at the booth sees it at once
        log.info("session %s: %s, queued for an officer", s.code, s.ending)

    # ---------------------------------------------------------------- what the UIs show
    def kiosk_devices(self, step: Step) -> dict[str, Any]:
        """Whether the step's device is there and simulated (the kiosk then shows the demo buttons)."""
        kind = DeviceKind.FINGERPRINT if step is Step.FINGERS else DeviceKind.MRZ
        d = self.devices.first(kind)
        hook = "finger_on" if step is Step.FINGERS else "present"
        return {"present": d is not None, "simulated": d is not None and hasattr(d.simulation, hook)}
