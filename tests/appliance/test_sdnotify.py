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
