"""Auto-capture on the simulated camera: feedback per frame, the best passing frame, a verdict at timeout."""

from __future__ import annotations

import pytest

from drivers import registry
from drivers.contract import ErrorCode, Status
from edge.lane.face_capture import AutoCaptureResult, LiveFrame, auto_capture, run_auto_capture
from tests.drivers.contract import wait_for_status
from tests.faces.conftest import portrait_file


@pytest.fixture
def camera():
    cfg = registry.parse_settings("camera_sim", {"source": str(portrait_file("a1")), "fps": 15})
    sim = registry.start_simulator("camera_sim", cfg)
    dev = registry.create("camera_sim", sim.config)
    dev.open()
    wait_for_status(dev, Status.READY)
    yield sim, dev
    dev.close()
    sim.close()


def test_captures_a_passing_frame_with_feedback_on_the_way(analyzer, camera):
    _, dev = camera
    items = list(auto_capture(dev, analyzer, timeout=5.0, settle=0.3))
    frames = [i for i in items if isinstance(i, LiveFrame)]
    result = items[-1]
    assert isinstance(result, AutoCaptureResult) and result.ok, result.to_dict()
    assert frames and result.frames == len(frames)
    assert result.report.acceptable and result.image.shape == (480, 640, 3)
    assert result.report.score == max(f.report.score for f in frames if f.report.acceptable)
    assert "image" not in result.to_dict()


def test_no_face_stretch_then_face(analyzer, camera):
    sim, dev = camera
    sim.no_face()
    seen = []
    result = None
    for item in auto_capture(dev, analyzer, timeout=6.0, settle=0.2):
        if isinstance(item, LiveFrame):
            seen.append(item.feedback)
            if len(seen) == 3:
                sim.present()
        else:
            result = item
    assert seen[0] == ("face.none",)
    assert result is not None and result.ok


def test_dark_scene_times_out_with_advice(analyzer, camera):
    sim, dev = camera
    sim.set_scene(gain=0.15)
    result = run_auto_capture(dev, analyzer, timeout=1.0)
    assert not result.ok and result.error is ErrorCode.LOW_QUALITY
    assert result.last_feedback[0] == "face.more_light"
    sim.set_scene(gain=2.5)
    result = run_auto_capture(dev, analyzer, timeout=1.0)
    assert not result.ok and result.last_feedback[0] == "face.less_light"


def test_blurred_scene_asks_to_hold_still(analyzer, camera):
    sim, dev = camera
    sim.set_scene(blur=6.0)
    result = run_auto_capture(dev, analyzer, timeout=1.0)
    assert not result.ok and result.error is ErrorCode.LOW_QUALITY
    assert "face.hold_still" in result.last_feedback


def test_unplugged_camera_gives_no_frame(analyzer, camera):
    sim, dev = camera
    sim.unplug()
    result = run_auto_capture(dev, analyzer, timeout=1.5)
    assert not result.ok and result.frames <= 2
    assert result.error in (ErrorCode.DISCONNECTED, ErrorCode.TIMEOUT)
