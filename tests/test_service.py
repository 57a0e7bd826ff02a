"""The services speak sd_notify: READY once the main loop runs, WATCHDOG pings only while it is healthy."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.contract import DeviceKind
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
CAMERA_AND_FINGER = """
[devices.camera]
backend = "camera_v4l2"
device = "/dev/video0"

[devices.fingerprint]
backend = "finger_uareu4000"
"""


def _listen(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    return sock


def _collect(sock: socket.socket, seconds: float) -> list[str]:
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(TimeoutError):
            out.extend(sock.recv(4096).decode().splitlines())
    return out


def test_uplink_notifies_ready_and_pings_the_watchdog(tmp_path):
    sock = _listen(tmp_path)
    # broker unreachable: the uplink is still healthy and waiting. A camera and a fingerprint reader configured:
    # the uplink runs neither, so their libraries (numpy, OpenCV) stay out of its memory.
    config = write_config(tmp_path, devices=CAMERA_AND_FINGER)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000",
           "PYTHONFAULTHANDLER": "1"}
    env.pop("WATCHDOG_PID", None)
    err = tmp_path / "uplink.err"
    with err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "edge", "uplink", "--config", str(config)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        msgs = _collect(sock, 4.0)
        assert "READY=1" in msgs
        assert msgs.count("WATCHDOG=1") >= 3
        mapped = Path(f"/proc/{proc.pid}/maps").read_text()
        assert not [lib for lib in ("numpy", "cv2", "onnxruntime", "rapidfuzz") if f"/{lib}" in mapped], mapped
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:     # say where it hung: faulthandler prints every thread on SIGABRT
            proc.send_signal(signal.SIGABRT)
            proc.wait(10)
            pytest.fail(f"the uplink did not stop within 15 s of SIGTERM:\n{err.read_text(errors='replace')[-6000:]}")
        assert code == 0
        assert "STOPPING=1" in _collect(sock, 0.5)
    finally:
        proc.kill()
        sock.close()


def test_station_stops_pinging_when_its_loop_hangs(tmp_path):
    """A station whose main loop is stuck must stop pinging so systemd restarts it."""
    from edge.config import parse
    from edge.devices import DeviceSet
    from edge.recorder import Recorder
    from edge.station import Station
    from edge.store import Store

    cfg = parse(write_config(tmp_path).read_text())
    store = Store.open(cfg.store.path, min_free_mb=0)
    station = Station(cfg, store, Recorder(cfg, store), DeviceSet())
    pings = []
    calls = {"n": 0}

    def step(read_timeout: float = 0.2) -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("device read failed")  # unhealthy iterations from now on
        time.sleep(0.01)

    station.step = step
    import threading

    stop = threading.Event()
    t = threading.Thread(target=station.run, args=(stop, lambda: pings.append(1)))
    t.start()
    time.sleep(1.2)
    stop.set()
    t.join(5)
    assert len(pings) == 3 and not station.state.healthy
    assert "device read failed" in station.state.last_error


def test_station_offers_reads_to_the_kiosk_first(tmp_path):
    """A read the kiosk takes is the kiosk's traveller (no auto crossing); a read it declines is recorded."""
    import random

    from edge.config import parse
    from edge.devices import open_devices
    from edge.documents.synth import make_mrz
    from edge.recorder import Recorder
    from edge.station import Station
    from edge.store import Store

    cfg = parse(write_config(tmp_path, devices='[devices.mrz]\nbackend = "mrz_serial"\nsimulated = true\n'
                                               'port = "sim"\n').read_text())
    store = Store.open(cfg.store.path, min_free_mb=0)
    devices = open_devices(cfg)
    station = Station(cfg, store, Recorder(cfg, store), devices)
    offered: list[tuple[str, str]] = []
    take = {"now": True}

    def kiosk(text: str, source: str) -> bool:
        offered.append((text, source))
        return take["now"]

    station.on_document = kiosk
    reader = devices.first(DeviceKind.MRZ)
    rng = random.Random(3)
    try:
        for taken in (True, False):
            take["now"] = taken
            lines = make_mrz("TD3", rng=rng)
            reader.simulation.present(lines)
            deadline = time.monotonic() + 10
            while len(offered) < (1 if taken else 2) and time.monotonic() < deadline:
                station.step(read_timeout=0.1)
            assert offered[-1] == ("\n".join(lines), "mrz")
            assert station.state.recorded == (0 if taken else 1)
    finally:
        devices.close()
        store.close()


def test_the_uplink_loads_the_example_config_and_applies_a_list_without_the_stations_libraries(tmp_path: Path) -> None:
    """The uplink loads the config as it does (devices are the station's to check) and applies alert lists, but
    never runs a device or matches a traveller: OpenCV, ONNX Runtime, numpy and rapidfuzz (about 20 MB resident,
    16 MB of PSS for numpy alone) stay out of it, so the services fit a 1 GB board. The list it applied matches."""
    code = f"""
import sys
import edge.cli.uplink
from edge import config
from edge.uplink import Uplink
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.alerts.helpers import open_db, person, snapshot
from pathlib import Path
from edge.cli.uplink import reloader
reloader(Path('examples/config.toml'), None, None)()
key = Ed25519PrivateKey.generate()
db = open_db(Path({str(tmp_path)!r}), key)
db.apply_bundle(snapshot(key, [person('P1', 'HADDAD', 'SAMIR')], 1), 'test')
print(sorted(m for m in ('cv2', 'onnxruntime', 'sklearn', 'numpy', 'rapidfuzz', 'sqlite_utils') if m in sys.modules))
print(len(db.matcher().persons), 'numpy' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "1 True"], out.stdout


def test_busy_feeds_the_watchdog_only_within_its_limit() -> None:
    """Long main-loop work keeps the pings coming, but only up to the limit: work that outlasts it is hung."""
    from edge.service import busy

    pings: list[float] = []
    t0 = time.monotonic()
    with busy(lambda: pings.append(time.monotonic() - t0), limit=10.0, every=0.05):
        time.sleep(0.5)
    assert len(pings) >= 5
    n = len(pings)
    time.sleep(0.2)
    assert len(pings) == n   # nothing after the work ends

    pings.clear()
    t0 = time.monotonic()
    with busy(lambda: pings.append(time.monotonic() - t0), limit=0.3, every=0.05):
        time.sleep(0.9)
    assert pings and max(pings) < 0.45   # the pings stopped at the limit while the work went on


def test_station_feeds_the_watchdog_through_a_long_auto_crossing(tmp_path):
    """An auto-mode crossing runs in the main loop and may take minutes of device time (face tries, four fingers):
    the pings go on through it, so systemd's watchdog (30 s on a board) does not kill a traveller's crossing."""
    import random
    import threading

    from edge.config import parse
    from edge.devices import open_devices
    from edge.documents.synth import make_mrz
    from edge.recorder import Recorder
    from edge.station import Station
    from edge.store import Store

    cfg = parse(write_config(tmp_path, devices='[devices.mrz]\nbackend = "mrz_serial"\nsimulated = true\n'
                                               'port = "sim"\n').read_text())
    store = Store.open(cfg.store.path, min_free_mb=0)
    devices = open_devices(cfg)
    station = Station(cfg, store, Recorder(cfg, store), devices)
    record = station.record_document
    crossing: dict[str, float] = {}

    def slow_crossing(text: str, source: str):   # the devices' time in a long crossing, then the real recording
        crossing["start"] = time.monotonic()
        time.sleep(2.5)
        crossing["end"] = time.monotonic()
        return record(text, source)

    station.record_document = slow_crossing
    pings: list[float] = []
    stop = threading.Event()
    loop = threading.Thread(target=station.run, args=(stop, lambda: pings.append(time.monotonic())))
    try:
        loop.start()
        devices.first(DeviceKind.MRZ).simulation.present(make_mrz("TD3", rng=random.Random(5)))
        deadline = time.monotonic() + 20
        while station.state.recorded < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert station.state.recorded == 1
        during = [p for p in pings if crossing["start"] < p < crossing["end"]]
        assert len(during) >= 2   # the busy feeder pings about once a second while the crossing runs
    finally:
        stop.set()
        loop.join(10)
        devices.close()
        store.close()


def test_a_stop_signal_never_waits_for_the_lock_the_main_thread_holds():
    """A handler lands wherever the main thread is, e.g. inside stop.wait() holding the event's lock: setting the
    event right there would wait for that lock forever (the uplink once ignored SIGTERM that way)."""
    import threading

    from edge import service

    stop = threading.Event()
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.stop_on_signals(stop)
        with stop._cond:                        # the lock Event.wait holds between its checks
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)                    # the handler has run by now, in this thread, and returned
            assert not stop.is_set()
        assert stop.wait(5)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
