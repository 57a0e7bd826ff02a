"""The camera simulator backend: the device contract, plus scenes, timestamps and frame pacing."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from drivers import registry
from drivers.contract import CaptureResult, DeviceKind, ErrorCode, Status
from drivers.sim import camera_sim
from tests.drivers.contract import DeviceContractTests, Rig, wait_for_status
from tests.fixtures import face_images

FACE = face_images.portrait_path("a1")  # a package photo (tests/fixtures/face_images.py)


def _start(**settings):
    cfg = registry.parse_settings("camera_sim", {"fps": 25, **settings})
    sim = registry.start_simulator("camera_sim", cfg)
    dev = registry.create("camera_sim", sim.config)
    return sim, dev


def _check(result: CaptureResult) -> None:
    img = result.sample.data
    assert isinstance(img, np.ndarray) and img.shape == (480, 640, 3) and img.dtype == np.uint8
    assert result.sample.meta["frame"] >= 1
    assert abs(result.sample.captured_wall - time.time()) < 5


class TestCameraSimContract(DeviceContractTests):
    @pytest.fixture
    def rig(self):
        sim, dev = _start(source=str(FACE))
        dev.open()
        yield Rig(device=dev, present=sim.present, unplug=sim.unplug, replug=sim.replug, check_sample=_check,
                  no_sample_possible=False, capture_timeout=3.0)
        dev.close()
        sim.close()


@pytest.fixture
def sim_dev():
    sim, dev = _start(source=str(FACE))
    dev.open()
    wait_for_status(dev, Status.READY)
    yield sim, dev
    dev.close()
    sim.close()


def test_stream_timestamps_increase_at_the_frame_rate(sim_dev):
    _, dev = sim_dev
    stamps, indices = [], []
    for r in dev.stream(duration=1.0):
        if r.ok:
            stamps.append(r.sample.captured_mono)
            indices.append(r.sample.meta["frame"])
    assert len(stamps) >= 15                       # 25 fps nominal, shared CI cores
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert indices == sorted(set(indices))
    assert np.median(np.diff(stamps)) == pytest.approx(1 / 25, abs=0.02)


def test_scenes_change_the_frames(sim_dev):
    sim, dev = sim_dev
    bright = dev.capture(2.0).sample.data.mean()
    sim.set_scene(gain=0.2)
    time.sleep(0.1)
    dark = dev.capture(2.0).sample.data.mean()
    assert dark < bright * 0.3
    sim.no_face()
    time.sleep(0.1)
    empty = dev.capture(2.0).sample.data
    assert empty.std() < 15                       # the plain background only


def test_min_quality_rejects_a_blurred_stretch(sim_dev):
    sim, dev = sim_dev
    sim.set_scene(blur=12.0)
    time.sleep(0.1)
    r = dev.capture(0.5, min_quality=30)
    assert not r.ok and r.error is ErrorCode.LOW_QUALITY
    assert r.sample is not None and r.sample.quality < 30      # the best of what was seen
    sim.present()
    r = dev.capture(2.0, min_quality=30)
    assert r.ok and r.sample.quality >= 30


def test_script_loops_through_scenes():
    sim, dev = _start(source=str(FACE), script=[{"seconds": 0.4, "face": True},
                                                 {"seconds": 0.4, "face": False, "gain": 0.5}])
    dev.open()
    try:
        means = [r.sample.data.std() for r in dev.stream(duration=1.2) if r.ok]
        assert max(means) > 30 and min(means) < 15
    finally:
        dev.close()
        sim.close()


def test_standalone_synthetic_without_simulator():
    dev = registry.create("camera_sim", {"source": "synthetic", "fps": 30})
    with dev:
        wait_for_status(dev, Status.READY)
        r = dev.capture(2.0)
        assert r.ok and r.sample.kind is DeviceKind.CAMERA


def test_closed_simulator_is_a_disconnect(sim_dev):
    sim, dev = sim_dev
    sim.close()
    wait_for_status(dev, Status.DISCONNECTED)
    assert dev.capture(0.3).error in (ErrorCode.DISCONNECTED, ErrorCode.TIMEOUT)


def test_bad_source_is_reported_not_raised(tmp_path):
    with pytest.raises(OSError):
        camera_sim.make_player(str(tmp_path / "none*.jpg"), 64, 48, 10, [])
    dev = registry.create("camera_sim", {"source": str(tmp_path / "none*.jpg")})
    with dev:
        wait_for_status(dev, Status.DISCONNECTED)


def test_config_rejects_unknown_keys():
    with pytest.raises(registry.ValidationError):
        registry.parse_settings("camera_sim", {"fps": 0})
    with pytest.raises(registry.ValidationError):
        registry.parse_settings("camera_sim", {"colour": "red"})


def test_slow_frame_rate_is_not_a_disconnect():
    sim, dev = _start(source=str(FACE), fps=0.5)
    dev.open()
    try:
        wait_for_status(dev, Status.READY)
        time.sleep(2.3)                      # longer than 2 s, shorter than three frame periods
        assert dev.status().status is Status.READY
    finally:
        dev.close()
        sim.close()
