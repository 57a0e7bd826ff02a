"""Connection handling against a real mosquitto (and a silent TCP listener): no zombie clients, no hangs."""

from __future__ import annotations

import itertools
import socket
import threading
import time

from edge.uplink import Uplink
from tests.support.broker import Mosquitto
from tests.uplink.helpers import make_post


def test_a_dropped_client_never_reconnects_by_itself(tmp_path, broker):
    """paho's own reconnect would bring back a client we dropped, with our client id: it would take the session
    (and the queued commands, acknowledged and thrown away) from the client that replaced it."""
    post = make_post(tmp_path, broker.url)
    up = Uplink(post.cfg, post.store, post.key)
    assert up._connect()
    old = up._client
    try:
        broker.restart()
        time.sleep(3.5)     # paho's reconnect delay is 1 s, doubling; the uplink's loop is busy elsewhere
        assert not old.is_connected(), "the old paho client reconnected on its own"
    finally:
        up._drop_connection("test over")


def test_the_window_is_capped_by_the_brokers_receive_maximum(tmp_path):
    m = Mosquitto(tmp_path / "b", extra=["max_inflight_messages 7"]).start()
    try:
        post = make_post(tmp_path, m.url)
        up = Uplink(post.cfg, post.store, post.key)
        assert up._connect()
        try:
            assert up._window() == 7
        finally:
            up._drop_connection("test over")
    finally:
        m.stop()


def test_stop_is_honoured_while_waiting_for_a_connack(tmp_path):
    """A broker that accepts TCP but never answers: stopping must not wait out the CONNACK timeout, and the
    watchdog heartbeat keeps coming while the uplink waits."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    post = make_post(tmp_path, f"mqtt://127.0.0.1:{srv.getsockname()[1]}")
    up = Uplink(post.cfg, post.store, post.key)
    stop = threading.Event()
    beats: list[float] = []
    t = threading.Thread(target=up.run, args=(stop,), kwargs={"on_iteration": lambda: beats.append(time.monotonic())})
    try:
        t.start()
        time.sleep(1.5)
        n = len(beats)
        stop.set()
        t0 = time.monotonic()
        t.join(8)
        assert not t.is_alive() and time.monotonic() - t0 < 3
        assert n >= 3, "no heartbeat while waiting for the CONNACK"
    finally:
        stop.set()
        t.join(15)
        srv.close()


def test_a_dns_lookup_that_hangs_neither_starves_the_watchdog_nor_blocks_stop(tmp_path, monkeypatch):
    """No network at the post: the resolver can take tens of seconds per lookup. The uplink keeps its heartbeat
    (systemd's watchdog would otherwise restart it in a loop) and stops promptly."""
    real = socket.getaddrinfo

    def slow(host, *a, **k):
        if host == "broker.example":
            time.sleep(30)
        return real(host, *a, **k)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    post = make_post(tmp_path, "mqtt://broker.example:1883")
    up = Uplink(post.cfg, post.store, post.key)
    stop = threading.Event()
    beats: list[float] = []
    t = threading.Thread(target=up.run, args=(stop,), kwargs={"on_iteration": lambda: beats.append(time.monotonic())},
                         daemon=True)
    t.start()
    time.sleep(2.0)
    stop.set()
    t0 = time.monotonic()
    t.join(8)
    assert not t.is_alive() and time.monotonic() - t0 < 3
    assert len(beats) >= 5 and max(b - a for a, b in itertools.pairwise(beats)) < 1.0
