"""Issue 19 item 1: a full disk must not stop delivery (delivery is what frees space).

Before: the running uplink could not record its PUBACKs and re-sent from the start in a loop (77 messages for
20 events in 20 s, 0 marked delivered); a restarted one exited "database or disk is full".
"""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from edge.events.model import Crossing, Decision
from edge.store import StorageFull, Store, StoreError
from edge.uplink import Uplink
from tests.support.broker import Collector
from tests.uplink.helpers import UplinkThread, make_post

TOPIC = "borderpost/v1/post-t/dev-t/events/#"
EVENTS = 20


def crossing(i: int) -> Crossing:
    return Crossing(post="post-t", device="dev-t", role="kiosk", transaction=f"F{i:05d}",
                    decision=Decision(outcome="recorded", by="kiosk"))


def wait(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _deliver_all(post, sub) -> None:
    assert wait(lambda: post.store.stats().pending == 0), post.store.stats()
    assert post.store.stats().delivered == EVENTS
    # every event was acknowledged (the marks say so); the subscriber, whose SUBACK may come after the first
    # publish, only bounds the number sent: a re-send loop sent 77-106 for 20
    sent = len(sub.payloads("events/crossing"))
    assert sent <= EVENTS + 5, f"{sent} messages for {EVENTS} events: a re-send loop"


def test_a_running_uplink_keeps_recording_pubacks_on_a_full_disk(tmp_path, broker, small_fs):
    fs = small_fs(24)
    post = make_post(fs.path, broker.url)
    post.record(EVENTS)
    assert post.store.reserve.held
    sub = Collector(broker.port, TOPIC)
    # the uplink's own connection, opened before the disk fills
    uplink_store = Store.open(post.cfg.store.path, min_free_mb=0, synchronous="NORMAL")
    fs.fill()
    assert shutil.disk_usage(fs.path).free < 64 * 1024
    try:
        # the station refuses new crossings: the space left is delivery's
        assert post.store.capacity_problem() is not None
        with pytest.raises(StorageFull):
            post.recorder.record_crossing(crossing(1))
        assert post.store.set_device_status("mrz", "sim", "ok") is False   # advisory: skipped, no exception
        uplink = Uplink(post.cfg, uplink_store, post.key)
        telemetry = uplink.telemetry()             # the agency is told
        assert telemetry.storage_full and "free on disk" in telemetry.store_problem
        stop = threading.Event()
        t = threading.Thread(target=uplink.run, args=(stop,), daemon=True)
        t.start()
        try:
            _deliver_all(post, sub)
            assert uplink_store.health()["storage_full"] and not uplink_store.health()["delivery_reserve_held"]
        finally:
            stop.set()
            t.join(10)
    finally:
        sub.close()
    # space comes back (the log was rotated): crossings are taken again, the reserve is set aside again
    (fs.path / "filler").unlink()
    assert post.store.capacity_problem() is None and post.store.reserve.held
    post.recorder.record_crossing(crossing(2))
    assert post.store.set_device_status("mrz", "sim", "ok") is True


def test_an_uplink_restarted_on_a_full_disk_opens_and_delivers(tmp_path, broker, small_fs):
    fs = small_fs(24)
    post = make_post(fs.path, broker.url)
    post.record(EVENTS)
    post.store.close()                   # everything stopped: the WAL and its index are gone with the last close
    fs.fill()
    sub = Collector(broker.port, TOPIC)
    up = UplinkThread(post)              # opens the store on the full disk
    try:
        post.store = Store.open(post.cfg.store.path, min_free_mb=0, read_only=True)
        _deliver_all(post, sub)
    finally:
        up.close()
        sub.close()


def test_without_its_reserve_a_full_store_is_reported_and_never_to_be_moved_aside(tmp_path, small_fs):
    fs = small_fs(24)
    post = make_post(fs.path, "mqtt://127.0.0.1:1")
    post.record(EVENTS)
    post.store.close()
    post.store.reserve.release()
    fs.fill()
    with pytest.raises(StoreError) as e:
        Store.open(post.cfg.store.path, min_free_mb=0)
    msg = str(e.value)
    assert "storage full" in msg and "aside" not in msg and "\n" not in msg
    ro = Store.open(post.cfg.store.path, read_only=True)   # what is stored can still be read
    assert ro.stats().pending == EVENTS
