"""The station: the post's main loop. It polls the document reader and hands each read to the lane.

A read a kiosk session (or a technician's test, or the booth) takes is theirs; every other read is one
traveller in auto mode (an unattended lane, the demo and `simulate`): the lane runs the whole crossing
(document, chip, face and fingerprints when the post has those devices, the checks) and records it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.contract import DeviceKind
from edge import service
from edge.config import Config
from edge.devices import DeviceSet
from edge.lane.document import document_summary, new_transaction_code
from edge.lane.lane import Lane
from edge.recorder import Recorded, Recorder
from edge.store import StorageFull, Store

__all__ = ["Station", "StationState", "document_summary", "new_transaction_code"]

log = logging.getLogger("borderpost.station")


@dataclass
class StationState:
    recorded: int = 0
    storage_full: str | None = None
    last_error: str = ""
    healthy: bool = True
    last_loop: float = field(default_factory=time.monotonic)


class Station:
    def __init__(self, cfg: Config, store: Store, recorder: Recorder, devices: DeviceSet,
                 lane: Lane | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.recorder = recorder
        self.devices = devices
        self.lane = lane or Lane(cfg, store, recorder, devices)
        self.state = StationState()
        self._next_status = 0.0
        self.on_recorded: Callable[[Recorded], None] | None = None
        # A kiosk UI takes document reads for the traveller in front of it: (MRZ text, source) -> taken.
        # Reads it does not take are recorded here as auto-mode crossings.
        self.on_document: Callable[[str, str], bool] | None = None
        self._heartbeat: Callable[[], None] | None = None

    def record_document(self, mrz_text: str, source: str) -> Recorded | None:
        """One traveller in auto mode: the lane runs and records the crossing (None: the store is full)."""
        try:
            rec = self.lane.auto_crossing(mrz_text, source)
        except StorageFull as exc:
            self.state.storage_full = str(exc)
            log.error("%s: crossing not taken", exc)
            return None
        self.state.storage_full = None
        self.state.recorded += 1
        log.info("crossing recorded: seq %d id %s", rec.sequence, rec.event_id)
        if self.on_recorded:
            self.on_recorded(rec)
        return rec

    def publish_device_status(self) -> None:
        for d in self.devices.devices.values():
            report = d.status()
            status = report.status.value if report else "error"
            detail = (report.detail if report else d.error) or ""
            with self.lane.lock:          # the lane's UIs share this store connection
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
        with self.lane.lock:
            problem = self.store.capacity_problem()
        if problem:
            self.state.storage_full = problem
            time.sleep(read_timeout)
            return
        result = reader.device.capture(timeout=read_timeout)
        if result.ok and result.sample is not None:
            text = result.sample.data.decode("utf-8", "replace")
            if self.on_document is None or not self.on_document(text, reader.name):
                with service.busy(self._heartbeat):   # a whole crossing runs here; the watchdog waits for it
                    self.record_document(text, reader.name)

    def run(self, stop: threading.Event, heartbeat: Callable[[], None] | None = None) -> None:
        self.lane.stop_with(stop)
        self._heartbeat = heartbeat
        self.lane.steps.start_warm_up()
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
