"""A whole border post on one machine: simulated devices, the station and the uplink, N travellers.

It is the demo and a test harness: travellers' documents are presented to the simulated MRZ reader
(bytes on a pseudo-terminal, read by the real serial backend), the station's lane runs and records each
crossing (face and fingerprints too when the post has a simulated camera and sensor), and the uplink
delivers them; it ends when the broker has acknowledged every one (or says why not).
"""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drivers.contract import DeviceKind
from edge.config import Config, Device
from edge.devices import DeviceSet, open_devices
from edge.documents.synth import make_mrz
from edge.identity import IdentityError, load_or_create_key
from edge.recorder import Recorder
from edge.station import Station
from edge.store import Store
from edge.uplink import Uplink

log = logging.getLogger("borderpost.simulate")

DEFAULT_DEVICES = {"mrz": {"backend": "mrz_serial", "simulated": True, "port": "simulated", "profile": "cr"}}
SETTLE_S = 60.0  # how long the station's thread may take to end its step at the end (an inference under an emulator)


@dataclass
class SimulationResult:
    ok: bool
    travellers: int
    recorded: int
    delivered: int
    pending: int
    seconds: float
    store: Path
    reason: str = ""


def prepare(cfg: Config, store_path: Path | None, offline: bool) -> Config:
    """Simulated devices always; a fresh temporary store unless one is given (or --offline records to the config's)."""
    cfg = cfg.model_copy(deep=True)
    if not cfg.devices:
        cfg.devices = {k: Device.model_validate(v) for k, v in DEFAULT_DEVICES.items()}
    for dev in cfg.devices.values():
        dev.simulated = True
    if store_path is not None:
        cfg.store.path = store_path
    elif not offline:
        cfg.store.path = Path(tempfile.mkdtemp(prefix="borderpost-sim-")) / "store.db"
    try:
        load_or_create_key(cfg.identity.signing_key)
    except (IdentityError, OSError) as exc:
        fallback = cfg.store.path.parent / "device_ed25519.pem"
        log.warning("device key %s unusable (%s); using %s", cfg.identity.signing_key, exc, fallback)
        cfg.identity.signing_key = fallback
    return cfg


def present_travellers(devices: DeviceSet, n: int, seed: int, recorded: Callable[[], int],
                       per_traveller_timeout: float = 15.0, stop: threading.Event | None = None) -> int:
    """Put N synthetic documents on the simulated reader, one after the other; returns how many were taken."""
    reader = devices.first(DeviceKind.MRZ)
    if reader is None or reader.simulation is None:
        raise RuntimeError("no simulated MRZ reader is configured")
    sensor = devices.first(DeviceKind.FINGERPRINT)
    finger = sensor.simulation if sensor is not None and hasattr(sensor.simulation, "finger_on") else None
    rng = random.Random(seed)
    start = recorded()
    for i in range(n):
        if stop is not None and stop.is_set():
            break
        fmt = rng.choice(["TD3", "TD3", "TD3", "TD1", "TD2"])
        if finger is not None:
            finger.finger_on(compliant=True)  # lifts when asked, places the next finger when asked
        reader.simulation.present(make_mrz(fmt, rng=rng))
        deadline = time.monotonic() + per_traveller_timeout
        while recorded() < start + i + 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        if finger is not None:
            finger.finger_off()
        if recorded() < start + i + 1:
            break
    return recorded() - start


def lane_budget(station: Station) -> float:
    """The longest an auto-mode traveller can take at the face and finger steps (every try used)."""
    rules, opts = station.lane.auto_rules, station.lane.options
    tries = rules.retries + 1
    return tries * ((opts.face_attempt_s if rules.face else 0.0) + opts.finger_attempt_s * len(rules.fingerprints))


def run(cfg: Config, travellers: int, *, offline: bool = False, timeout: float = 120.0, seed: int = 1,
        keep_running: threading.Event | None = None, on_ready: Callable[[Station], None] | None = None,
        on_stop: Callable[[], None] | None = None) -> SimulationResult:
    t0 = time.monotonic()
    store = Store.open(cfg.store.path, max_db_mb=cfg.store.max_db_mb, min_free_mb=cfg.store.min_free_mb)
    parked_before = store.stats().parked
    key = load_or_create_key(cfg.identity.signing_key)
    devices = open_devices(cfg)
    stop = threading.Event()
    threads = []
    station: Station | None = None
    try:
        station = Station(cfg, store, Recorder(cfg, store, key), devices)
        threads.append(threading.Thread(target=station.run, args=(stop,), name="station", daemon=True))
        uplink = None
        if not offline:
            ustore = Store.open(cfg.store.path, max_db_mb=cfg.store.max_db_mb, min_free_mb=cfg.store.min_free_mb,
                                synchronous="NORMAL")
            uplink = Uplink(cfg, ustore, key)
            threads.append(threading.Thread(target=uplink.run, args=(stop,), name="uplink", daemon=True))
        for t in threads:
            t.start()
        if on_ready:
            on_ready(station)
        taken = present_travellers(devices, travellers, seed, lambda: station.state.recorded,
                                   per_traveller_timeout=15.0 + lane_budget(station), stop=stop)
        reason = ""
        if taken < travellers:
            reason = (f"only {taken} of {travellers} travellers were recorded"
                      + (f": {station.state.storage_full}" if station.state.storage_full else ""))
        deadline = time.monotonic() + timeout     # the broker's time: counted once every traveller is recorded
        while not offline and time.monotonic() < deadline and store.stats().pending > 0:
            time.sleep(0.02)
        if keep_running is not None:
            keep_running.wait()
        if on_stop:
            on_stop()   # e.g. the UI server, before the devices it uses are closed
        stats = store.stats()
        if not offline and stats.pending and not reason:
            why = uplink.state.last_error if uplink else ""
            reason = (f"{stats.pending} events not acknowledged by the broker {cfg.broker.url} within "
                      f"{timeout:.0f} s" + (f" ({why})" if why else "") + "; they wait in " + str(cfg.store.path))
        if not offline and stats.parked > parked_before and not reason:
            # refused is not acknowledged: the broker did not take them
            why = next((r["park_reason"] for r in store.listing() if r["state"] == "parked"), "")
            reason = (f"{stats.parked - parked_before} events refused by the broker {cfg.broker.url} and parked"
                      + (f" ({why})" if why else "") + "; see `borderpost events list`")
        return SimulationResult(
            ok=not reason, travellers=travellers, recorded=taken, delivered=stats.delivered,
            pending=stats.pending, seconds=round(time.monotonic() - t0, 2), store=cfg.store.path, reason=reason,
        )
    finally:
        stop.set()
        for t in threads:
            if t.ident is not None:  # started (an error while setting up may come before the start)
                t.join(SETTLE_S)
        if station is not None:
            station.lane.stop()      # waits for its step threads: none may be in a native library at exit
        devices.close()
        store.close()
