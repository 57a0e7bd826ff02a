"""The reconnect loop never stalls: the broker appears, dies and freezes at random moments (issue 19 item 9).

A real mosquitto is started, killed with -9 and stopped with SIGSTOP by the test while the uplink runs. What
must hold throughout: the uplink's loop keeps beating (no wait without a bound: the systemd watchdog would
otherwise kill it, or worse, nothing would), every time the broker is up long enough the uplink is connected
within the backoff's bound, and at the end every event is delivered.
"""

from __future__ import annotations

import random
import signal
import threading
import time

from drivers.backoff import Backoff
from edge.store import Store
from edge.uplink import client as uplink_client
from edge.uplink.client import Uplink
from tests.uplink.helpers import make_post

BACKOFF_MAX_S = 1.0
# the longest a healthy uplink may go without a heartbeat: paho's connect() blocks for its connect timeout at most
MAX_BEAT_GAP_S = 5.0 + 2.0


class Beats:
    def __init__(self) -> None:
        self.last = time.monotonic()
        self.worst = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        self.worst = max(self.worst, now - self.last)
        self.last = now


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


def test_broker_coming_and_going_at_random_never_stalls_the_uplink(tmp_path, broker) -> None:
    rng = random.Random(19)
    broker.kill()
    post = make_post(tmp_path, broker.url)
    uplink = Uplink(post.cfg, Store.open(post.cfg.store.path, min_free_mb=0, synchronous="NORMAL"), post.key)
    uplink.backoff = Backoff(initial=0.05, maximum=BACKOFF_MAX_S)
    stop, beats = threading.Event(), Beats()
    t = threading.Thread(target=uplink.run, args=(stop, beats), daemon=True)
    t.start()
    recorded = 0
    slow: list[str] = []
    try:
        for cycle in range(10):
            time.sleep(rng.uniform(0.0, 0.8))          # the broker appears at a random moment ...
            broker.start()
            post.record(5, start=recorded)
            recorded += 5
            bound = BACKOFF_MAX_S + uplink_client.CONNACK_TIMEOUT_S + MAX_BEAT_GAP_S
            t0 = time.monotonic()
            if not _wait(lambda: uplink.state.connected and post.store.stats().pending == 0, bound):
                slow.append(f"cycle {cycle}: not connected and drained {bound:.1f} s after the broker came up "
                            f"(last error: {uplink.state.last_error})")
            elif time.monotonic() - t0 > bound:
                slow.append(f"cycle {cycle}: took {time.monotonic() - t0:.1f} s")
            time.sleep(rng.uniform(0.0, 0.5))          # ... and goes: killed, or frozen then killed
            if rng.random() < 0.3 and broker.proc is not None:
                broker.proc.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(0.2, 1.5))
                broker.proc.send_signal(signal.SIGCONT)
            broker.kill()
            post.record(2, start=recorded)
            recorded += 2
        broker.start()
        assert _wait(lambda: post.store.stats().pending == 0, 30), uplink.state.last_error
        assert post.store.stats().delivered == recorded
        assert not slow, slow
        assert beats.worst < MAX_BEAT_GAP_S, f"the loop went {beats.worst:.1f} s without a heartbeat"
        assert t.is_alive()
    finally:
        stop.set()
        t.join(15)
    assert not t.is_alive(), "the uplink did not stop"


def test_a_frozen_broker_is_noticed_and_left_without_blocking_the_loop(tmp_path, broker) -> None:
    """SIGSTOP while events are in flight: the broker's socket accepts nothing and answers nothing. The uplink
    must drop the connection within twice its keepalive (paho's keepalive check) and try again, its loop beating
    meanwhile (no join or wait on the dead connection without a bound), and deliver everything once it thaws."""
    post = make_post(tmp_path, broker.url)
    uplink = Uplink(post.cfg, Store.open(post.cfg.store.path, min_free_mb=0, synchronous="NORMAL"), post.key)
    uplink.backoff = Backoff(initial=0.05, maximum=BACKOFF_MAX_S)
    stop, beats = threading.Event(), Beats()
    t = threading.Thread(target=uplink.run, args=(stop, beats), daemon=True)
    t.start()
    try:
        assert _wait(lambda: uplink.state.connected, 10)
        post.record(20)
        assert _wait(lambda: post.store.stats().pending == 0, 10)
        beats.worst = 0.0
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)
        try:
            post.record(200, start=20)
            keepalive = post.cfg.broker.keepalive
            assert _wait(lambda: not uplink.state.connected, 2 * keepalive + 2), "a frozen broker went unnoticed"
            time.sleep(2)
            assert beats.worst < MAX_BEAT_GAP_S, f"the loop went {beats.worst:.1f} s without a heartbeat"
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        assert _wait(lambda: post.store.stats().pending == 0, 30), uplink.state.last_error
        assert post.store.stats().delivered == 220
    finally:
        stop.set()
        t.join(15)
    assert not t.is_alive(), "the uplink did not stop"


def test_a_store_locked_by_another_process_neither_silences_nor_disconnects_the_uplink(tmp_path, broker) -> None:
    """Another writer holds the store for 12 s while events are delivered: the uplink used to wait 10 s per
    attempt in silence (busy timeout), then drop the connection and send everything again. It must keep its loop
    beating, keep the PUBACKs until it can record them, and record them all once the lock is gone."""
    import sqlite3

    post = make_post(tmp_path, broker.url)
    uplink = Uplink(post.cfg, Store.open(post.cfg.store.path, min_free_mb=0, synchronous="NORMAL"), post.key)
    stop, beats = threading.Event(), Beats()
    t = threading.Thread(target=uplink.run, args=(stop, beats), daemon=True)
    t.start()
    try:
        assert _wait(lambda: uplink.state.connected, 10)
        post.record(20)
        assert _wait(lambda: post.store.stats().pending == 0, 10)
        post.record(30, start=20)
        lock = sqlite3.connect(post.cfg.store.path, isolation_level=None)
        beats.worst = 0.0
        lock.execute("BEGIN IMMEDIATE")
        try:
            time.sleep(12)
            assert uplink.state.connected and uplink.state.reconnects == 0, uplink.state.last_error
            assert beats.worst < 3.0, f"the loop went {beats.worst:.1f} s without a heartbeat"
        finally:
            lock.execute("COMMIT")
            lock.close()
        assert _wait(lambda: post.store.stats().pending == 0, 10)
        assert post.store.stats().delivered == 50 and uplink.state.reconnects == 0
    finally:
        stop.set()
        t.join(15)
