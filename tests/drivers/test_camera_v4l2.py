"""The V4L2 backend through OpenCV's real capture path: a video file stands in for /dev/video0.

With BORDERPOST_HW_CAMERA=/dev/videoN the same contract suite runs against a real camera.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers import registry
from drivers.contract import ErrorCode, Status
from tests.drivers.contract import DeviceContractTests, Rig, wait_for_status


def _video(path: Path, frames: int = 30) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (320, 240))
    assert out.isOpened()
    for i in range(frames):
        img = np.full((240, 320, 3), 100, np.uint8)
        cv2.putText(img, str(i), (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 5)
        out.write(img)
    out.release()
    return path


class TestCameraV4L2Contract(DeviceContractTests):
    @pytest.fixture
    def rig(self, tmp_path):
        hw = os.environ.get("BORDERPOST_HW_CAMERA")
        if hw:
            dev = registry.create("camera_v4l2", {"device": hw})
            dev.open()
            yield Rig(device=dev, present=lambda: None, no_sample_possible=False)
            dev.close()
            return
        video = _video(tmp_path / "cam.avi")
        saved = video.read_bytes()

        def unplug() -> None:       # like /dev/videoN vanishing
            video.unlink()

        def replug() -> None:
            video.write_bytes(saved)

        dev = registry.create("camera_v4l2", {"device": str(video), "api": "any", "fourcc": None, "fps": 30,
                                              "width": 320, "height": 240})
        dev.open()

        def check(result):
            assert result.sample.data.shape == (240, 320, 3)

        yield Rig(device=dev, present=lambda: None, unplug=unplug, replug=replug, check_sample=check,
                  no_sample_possible=False)
        dev.close()


def test_recorded_file_loops_without_disconnecting(tmp_path):
    video = _video(tmp_path / "short.avi", frames=5)
    dev = registry.create("camera_v4l2", {"device": str(video), "api": "any", "fourcc": None, "fps": 30})
    with dev:
        wait_for_status(dev, Status.READY)
        results = list(dev.stream(duration=1.0))
        assert sum(r.ok for r in results) >= 15          # five frames, played round and round
        assert dev.status().status is Status.READY


def test_missing_device_is_disconnected_not_a_crash(tmp_path):
    dev = registry.create("camera_v4l2", {"device": str(tmp_path / "video9")})
    with dev:
        rep = wait_for_status(dev, Status.DISCONNECTED)
        assert "no such device" in rep.detail
        r = dev.capture(0.3)
        assert not r.ok and r.error in (ErrorCode.DISCONNECTED, ErrorCode.TIMEOUT)


def test_garbage_file_is_disconnected(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00garbage" * 100)
    dev = registry.create("camera_v4l2", {"device": str(bad), "api": "any"})
    with dev:
        wait_for_status(dev, Status.DISCONNECTED)


def test_discover_lists_video_nodes():
    found = registry.load_backend("camera_v4l2").discover()
    assert all(d.settings["device"].startswith("/dev/video") for d in found)


def test_config_validation():
    with pytest.raises(registry.ValidationError):
        registry.parse_settings("camera_v4l2", {"fourcc": "MJPEG"})
    assert registry.parse_settings("camera_v4l2", {}).device == "/dev/video0"
