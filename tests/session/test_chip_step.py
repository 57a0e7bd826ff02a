"""The lane's chip step with edge.chip's reader and an in-process test passport (tests/chip/card): the chip is read
with the optical MRZ, its checks run, DG2's face becomes the face step's reference, and no card is a retry."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from edge.config import parse
from edge.devices import DeviceSet, OpenDevice
from edge.documents.synth import make_mrz
from edge.lane.lane import Lane
from edge.lane.session import Ending, Step
from edge.lane.steps import register_chip_reader
from edge.recorder import Recorder
from edge.store import Store
from tests.chip.card.inprocess import SimulatedChip, issue_for, trust_store


@pytest.fixture
def post(tmp_path):
    cfg = parse(f'[identity]\npost = "p"\ndevice = "d"\nsigning_key = "{tmp_path}/k.pem"\n'
                f'[store]\npath = "{tmp_path}/store.db"\nmin_free_mb = 0\n', "<chip step test>")
    store = Store.open(cfg.store.path, min_free_mb=0)
    yield cfg, store, tmp_path
    register_chip_reader(None)
    store.close()


def face_jpeg() -> bytes:
    img = np.full((320, 240, 3), 200, np.uint8)
    cv2.circle(img, (120, 150), 70, (90, 120, 160), -1)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def lane_with(cfg, store, chip: SimulatedChip) -> Lane:
    from edge.chip.step import read_chip

    register_chip_reader(lambda dev, mrz: read_chip(dev.device, mrz, trust_store(), wait_s=0.1))
    devices = DeviceSet({"chip": OpenDevice("chip", "chip_inprocess", chip)})
    return Lane(cfg, store, Recorder(cfg, store), devices)


def test_the_chip_is_read_checked_and_its_face_is_the_reference(post):
    cfg, store, tmp_path = post
    mrz = "\n".join(make_mrz("TD3", rng=random.Random(5)))
    lane = lane_with(cfg, store, SimulatedChip(issue_for(tmp_path / "card", mrz, face_jpeg())))
    try:
        assert lane.rules.chip
        s = lane._new_session(0.0)
        s.choose_language("en", 0.0)
        with lane.lock:
            lane._take_document(s, mrz, "mrz")
        assert s.step is Step.CHIP and lane.mrz_for_chip[s.code] == mrz
        lane.steps.ensure(s)
        deadline = lane.clock() + 30
        while s.step is Step.CHIP and lane.clock() < deadline:
            lane.steps._running[f"{s.code}:chip"].join(0.1)
        assert s.step is not Step.CHIP, s.reasons
        assert s.code not in lane.mrz_for_chip                           # kept for the chip step only
        v = s.verdicts["chip.authentication"]
        assert v.outcome in ("pass", "warn") and "chip.dg1_mrz_mismatch" not in v.reason_codes, v
        portrait = lane.portrait_of(s.code, timeout=1.0)
        assert portrait is not None and portrait.shape[:2] == (320, 240)
    finally:
        lane.stop()


def test_no_card_is_a_try_then_an_officer(post):
    cfg, store, _ = post
    lane = lane_with(cfg, store, SimulatedChip(None))
    try:
        mrz = "\n".join(make_mrz("TD3", rng=random.Random(6)))
        s = lane._new_session(0.0)
        s.choose_language("en", 0.0)
        with lane.lock:
            lane._take_document(s, mrz, "mrz")
        lane.steps.run(s)
        assert s.ending is Ending.HANDOVER and s.reasons == ["chip.unreadable"]
        assert s.tries["chip"] == lane.rules.retries + 1
    finally:
        lane.stop()
