"""The capture flow against both simulators: best frame, retries, no finger, bad prints, unplug."""

from __future__ import annotations

import time

import numpy as np
import pytest

from drivers.backends import finger_r30x, finger_uareu4000
from drivers.contract import ErrorCode
from drivers.sim import finger_r30x as sim_r30x
from drivers.sim import finger_synth as synth
from drivers.sim import finger_uareu4000 as sim_uru
from edge.biometrics.finger import FINGERS
from edge.lane.finger_capture import capture_finger, capture_sequence


@pytest.fixture(params=["uareu4000", "r30x"])
def rig(request):
    if request.param == "uareu4000":
        sim = sim_uru.start(finger_uareu4000.Config(frame_timeout_ms=300))
        dev = finger_uareu4000.UareU4000(sim.config)
    else:
        sim = sim_r30x.start(finger_r30x.Config(reply_timeout=0.5))
        dev = finger_r30x.R30xFingerprint(sim.config)
    dev.open()
    yield sim, dev
    dev.close()
    sim.close()


def test_sequence_captures_each_finger(rig):
    sim, dev = rig
    sim.finger_on(compliant=True)          # lifts when the sequence waits for it, then places the next finger
    frames: list[tuple[str, int]] = []
    out = capture_sequence(dev, ["right_index", "left_index"], timeout=2.0, retries=1,
                           on_frame=lambda f, a, q, e: frames.append((f, a)))
    assert [c.finger for c in out] == ["right_index", "left_index"]
    for c in out:
        assert c.ok, c.to_dict()
        assert c.quality.acceptable and c.image is not None and c.device.backend == dev.name
        assert c.attempts == 1 and c.frames >= 1
    assert {f for f, _ in frames} == {"right_index", "left_index"}


def test_a_finger_left_on_the_glass_is_never_taken_as_the_next(rig):
    sim, dev = rig
    sim.finger_on()                        # placed once and never lifted
    out = capture_sequence(dev, ["right_index", "left_index", "right_middle"], timeout=0.8, retries=0)
    assert out[0].ok
    for c in out[1:]:
        assert c.error is ErrorCode.NO_SAMPLE and c.image is None and "stayed" in c.detail


def test_await_removal_reports_the_lift(rig):
    import threading

    sim, dev = rig
    sim.finger_on()
    assert capture_finger(dev, "right_index", timeout=2.0, retries=0).image is not None
    t0 = time.monotonic()
    assert dev.await_removal(0.4) is False and time.monotonic() - t0 >= 0.3      # still there
    threading.Timer(0.3, sim.finger_off).start()
    t0 = time.monotonic()
    assert dev.await_removal(5.0) is True and time.monotonic() - t0 < 2.5         # lifted while it waited
    assert dev.await_removal(0.2) is True                                         # and stays clear


def test_no_finger_ends_after_every_attempt(rig):
    _, dev = rig
    t0 = time.monotonic()
    c = capture_finger(dev, "right_thumb", timeout=0.4, retries=1)
    assert not c.ok and c.error is ErrorCode.NO_SAMPLE
    assert c.attempts == 2 and c.image is None
    assert 0.7 <= time.monotonic() - t0 < 4


def test_poor_print_gives_low_quality_with_feedback_and_the_best_frame(rig):
    sim, dev = rig
    smeared = synth.smudge(synth.master(3, (288, 256)), 25)
    sim.finger_on(smeared)
    c = capture_finger(dev, "left_index", timeout=3.0, retries=1, frames=2)
    assert c.error is ErrorCode.LOW_QUALITY
    assert c.attempts == 2 and c.frames == 4
    assert c.image is not None and c.quality is not None and not c.quality.acceptable
    assert c.quality.feedback


def test_best_frame_wins(rig):
    sim, dev = rig
    # a print that fills the sensor: NFIQ 2 asks for enough foreground on the glass it was taken on
    good = synth.master(4, (290, 384) if isinstance(dev, finger_uareu4000.UareU4000) else (288, 256))
    for img in (synth.low_contrast(good, 0.15), good, synth.blur(good, 4)):
        sim.present(img)
    scores: list[float] = []
    c = capture_finger(dev, "right_index", timeout=2.0, retries=0, frames=3,
                       on_frame=lambda f, a, q, e: scores.append(q.score) if q else None)
    assert c.ok and c.frames == len(scores) >= 2 and max(scores) > min(scores)
    assert c.algorithm.startswith("nfiq2/")     # the fast score chose the frame, NFIQ 2 judged it
    assert float(np.std(c.image)) > 40  # the contrasty frame was kept, not the light one


def test_unplug_stops_the_sequence(rig):
    sim, dev = rig
    sim.unplug()
    out = capture_sequence(dev, ["right_index", "left_index", "right_thumb"], timeout=0.5, retries=2)
    assert all(c.error is ErrorCode.DISCONNECTED for c in out)
    assert out[0].attempts == 1
    assert "earlier" in out[1].detail


def test_unknown_finger_name_is_refused(rig):
    _, dev = rig
    with pytest.raises(ValueError, match="unknown finger"):
        capture_sequence(dev, ["right_index", "right_toe"])


def test_summary_has_no_image(rig):
    sim, dev = rig
    sim.finger_on()
    d = capture_finger(dev, "right_index", timeout=2.0).to_dict()
    assert "image" not in d and d["image_shape"] is not None
    assert set(FINGERS) >= {d["finger"]}


def test_the_result_is_what_a_crossing_records(rig):
    sim, dev = rig
    sim.finger_on()
    ok = capture_finger(dev, "right_index", timeout=2.0)
    sim.finger_off()
    none = capture_finger(dev, "left_index", timeout=0.3, retries=0)
    assert (ok.result().finger, none.result().finger) == ("right_index", "left_index")
    assert ok.result().acceptable is True and ok.result().algorithm == ok.algorithm
    assert none.result().model_dump() == {"finger": "left_index", "quality": None, "acceptable": False,
                                          "feedback": ["finger.place_finger"], "algorithm": None, "replaces": None,
                                          "skipped": None}


@pytest.mark.parametrize("start,backend,config", [
    (sim_uru.start, finger_uareu4000.UareU4000, finger_uareu4000.Config),
    (sim_r30x.start, finger_r30x.R30xFingerprint, finger_r30x.Config),
])
def test_simulators_serve_the_public_prints_from_a_directory(monkeypatch, start, backend, config):
    from tests.fingerprints.conftest import FIXTURES

    monkeypatch.setenv(sim_r30x.ENV_IMAGES, str(FIXTURES))
    sim = start(config())
    dev = backend(sim.config)
    dev.open()
    try:
        for _ in range(3):
            sim.present()
        out = capture_sequence(dev, ["right_index", "left_index", "right_middle"], timeout=2.0, retries=0,
                               frames=1)
        assert all(c.ok for c in out), [c.to_dict() for c in out]
        # the three public prints came off the glass in turn, not one synthetic print three times
        assert len({c.image.tobytes() for c in out}) == 3
    finally:
        dev.close()
        sim.close()
