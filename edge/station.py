"""The station: reads devices, turns each traveller into a crossing event, writes it to the store.

In `auto` mode (an unattended lane, the demo and `simulate`) every document read is one crossing:
the MRZ is parsed and checked, the face and fingerprints are taken when the post has those devices
and asks for them, and the result is recorded. The kiosk and booth UIs drive the same pieces through
the transaction state machine instead.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.contract import DeviceKind
from edge.config import Config
from edge.devices import DeviceSet
from edge.documents import parse_mrz
from edge.events.model import Crossing, Decision, DocumentSummary
from edge.recorder import Recorded, Recorder
from edge.store import StorageFull, Store

log = logging.getLogger("borderpost.station")

TRANSACTION_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, 8/B, 2/Z)


def new_transaction_code() -> str:
    """Short code a traveller can read out and an officer can type: e.g. 'K7QX-M4TA'."""
    chars = "".join(secrets.choice(TRANSACTION_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def document_summary(mrz_text: str, source: str) -> DocumentSummary:
    result = parse_mrz(mrz_text)
    data = result.to_dict()
    fields = set(DocumentSummary.model_fields) - {"source"}
    return DocumentSummary(**{k: data.get(k) for k in fields if k in data}, source=source)


@dataclass
class StationState:
    recorded: int = 0
    storage_full: str | None = None
    last_error: str = ""
    healthy: bool = True
    last_loop: float = field(default_factory=time.monotonic)


class Station:
    def __init__(self, cfg: Config, store: Store, recorder: Recorder, devices: DeviceSet) -> None:
        self.cfg = cfg
        self.store = store
        self.recorder = recorder
        self.devices = devices
        self.state = StationState()
        self._next_status = 0.0
        self.on_recorded: Callable[[Recorded], None] | None = None
        # A kiosk UI takes document reads for the traveller in front of it: (MRZ text, source) -> taken.
        # Reads it does not take are recorded here as auto-mode crossings.
        self.on_document: Callable[[str, str], bool] | None = None

    def record_document(self, mrz_text: str, source: str) -> Recorded | None:
        """One traveller in auto mode: the document read, checked and recorded as a crossing."""
        doc = document_summary(mrz_text, source)
        alerts = [] if doc.valid else ["document.invalid"]
        if doc.expired:
            alerts.append("document.expired")
        outcome = "recorded" if doc.valid and not doc.expired else "handover"
        crossing = Crossing(
            post=self.cfg.identity.post, device=self.cfg.identity.device, role=self.cfg.identity.role,
            transaction=new_transaction_code(), document=doc, alerts=alerts,
            decision=Decision(outcome=outcome, by="kiosk",
                              reason_codes=[] if outcome == "recorded" else alerts),
        )
        try:
            rec = self.recorder.record_crossing(crossing)
        except StorageFull as exc:
            self.state.storage_full = str(exc)
            log.error("%s: crossing not taken", exc)
            return None
        self.state.storage_full = None
        self.state.recorded += 1
        log.info("crossing recorded: seq %d id %s (%s)", rec.sequence, rec.event_id, outcome)
        if self.on_recorded:
            self.on_recorded(rec)
        return rec

    def publish_device_status(self) -> None:
        for d in self.devices.devices.values():
            report = d.status()
            status = report.status.value if report else "error"
            detail = (report.detail if report else d.error) or ""
            self.store.set_device_status(d.name, d.backend, status, detail[:200])

    def step(self, read_timeout: float = 0.2) -> None:
        """One pass of the main loop: poll the document reader, keep device status current."""
        self.state.last_loop = time.monotonic()
        now = time.monotonic()
        if now >= self._next_status:
            self.publish_device_status()
            self._next_status = now + 2.0
        reader = self.devices.first(DeviceKind.MRZ)
        if reader is None or reader.device is None:
            time.sleep(read_timeout)
            return
        if self.store.capacity_problem():
            self.state.storage_full = self.store.capacity_problem()
            time.sleep(read_timeout)
            return
        result = reader.device.capture(timeout=read_timeout)
        if result.ok and result.sample is not None:
            text = result.sample.data.decode("utf-8", "replace")
            if self.on_document is None or not self.on_document(text, reader.name):
                self.record_document(text, reader.name)

    def run(self, stop: threading.Event, heartbeat: Callable[[], None] | None = None) -> None:
        while not stop.is_set():
            try:
                self.step()
                self.state.healthy = True
            except Exception as exc:  # keep the post running; the log and status say what broke
                self.state.healthy = False
                self.state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("station loop error")
                time.sleep(0.5)
            if heartbeat and self.state.healthy:
                heartbeat()
