"""sd_notify against a real AF_UNIX datagram socket, as systemd would hold it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from edge import sdnotify


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def test_ready_with_status_is_one_datagram(listener: socket.socket) -> None:
    assert sdnotify.notify_ready("devices up\nsecond line")
    assert listener.recv(4096) == b"READY=1\nSTATUS=devices up second line"


def test_watchdog_and_status(listener: socket.socket) -> None:
    assert sdnotify.watchdog_ping()
    assert listener.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.notify_status("x" * 500)
    assert listener.recv(4096) == b"STATUS=" + b"x" * 200


def test_abstract_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"borderpost-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    try:
        assert sdnotify.notify_stopping()
        assert sock.recv(100) == b"STOPPING=1"
    finally:
        sock.close()


def test_noop_without_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify_ready() is False
    assert sdnotify.watchdog_ping() is False


def test_missing_socket_does_not_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert sdnotify.watchdog_ping() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert sdnotify.watchdog_ping() is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [("30000000", None, 30.0), ("0", None, None), ("junk", None, None), ("", None, None),
     ("5000000", "self", 5.0), ("5000000", "1", None)],
)
def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch, usec: str, pid: str | None, expected: float | None) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)
    assert sdnotify.watchdog_interval() == expected


def test_pinger_rate_limits_and_skips_unhealthy(listener: socket.socket) -> None:
    now = [100.0]
    wd = sdnotify.WatchdogPinger(interval=10.0, clock=lambda: now[0])
    assert wd.tick(healthy=True)
    assert listener.recv(100) == b"WATCHDOG=1"
    now[0] += 4.9
    assert not wd.tick(healthy=True)          # within half the interval: no datagram
    now[0] += 0.2
    assert not wd.tick(healthy=False)         # a stuck device loop: no ping, systemd will restart us
    assert wd.tick(healthy=True)
    assert listener.recv(100) == b"WATCHDOG=1"
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        listener.recv(100)                    # nothing else was sent


def test_pinger_without_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sdnotify.WatchdogPinger().tick(healthy=True) is False


@pytest.mark.parametrize(("env", "usec"), [(None, 60_000_000), ("300", 300_000_000), ("nonsense", 60_000_000),
                                           ("-5", 60_000_000)])
def test_start_up_step_asks_for_its_own_time(listener: socket.socket, monkeypatch: pytest.MonkeyPatch,
                                             env: str | None, usec: int) -> None:
    from edge import service

    if env is None:
        monkeypatch.delenv(service.START_STEP_ENV, raising=False)
    else:
        monkeypatch.setenv(service.START_STEP_ENV, env)
    service.starting("opening the devices")
    assert listener.recv(4096) == f"EXTEND_TIMEOUT_USEC={usec}\nSTATUS=starting: opening the devices".encode()


def test_station_reports_each_start_up_step_before_ready(tmp_path: Path, listener: socket.socket) -> None:
    """The real station command under a notify socket: every step asks for time, then READY=1, in that order."""
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "config.toml"
    config.write_text(f'[identity]\npost = "p"\ndevice = "d"\nsigning_key = "{tmp_path}/key.pem"\n'
                      f'[store]\npath = "{tmp_path}/store.db"\n[ui]\nenabled = false\n')
    env = dict(os.environ, NOTIFY_SOCKET=os.environ["NOTIFY_SOCKET"])
    proc = subprocess.Popen([sys.executable, "-m", "edge", "station", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    messages: list[str] = []
    listener.settimeout(60)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and not any(m.startswith("READY=1") for m in messages):
            messages.append(listener.recv(4096).decode())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    steps = [m.split("STATUS=starting: ")[1] for m in messages if "STATUS=starting: " in m]
    assert steps == ["loading the pipeline", "opening the store", "opening the devices", "setting up the lane"], \
        (messages, err[-500:])
    assert all(m.startswith("EXTEND_TIMEOUT_USEC=") for m in messages if "STATUS=starting: " in m)
    assert messages[-1].startswith("READY=1") and "starting: setting up the lane" in messages[-2], messages
