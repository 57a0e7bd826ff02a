"""picamera2 only exists on Raspberry Pi OS: off a Pi the backend reports it; a stand-in module runs the
contract suite through the backend's own code."""

from __future__ import annotations

import sys
import threading
import time
import types

import numpy as np
import pytest

from drivers import registry
from drivers.contract import ErrorCode, Status
from tests.drivers.contract import DeviceContractTests, Rig, wait_for_status


def test_module_imports_and_reports_missing_picamera2(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)    # import picamera2 -> ImportError
    dev = registry.create("camera_picamera2", {})
    with dev:
        rep = wait_for_status(dev, Status.ERROR)
        assert rep.error is ErrorCode.UNSUPPORTED and "picamera2" in rep.detail
        r = dev.capture(0.2)
        assert not r.ok and r.error is ErrorCode.UNSUPPORTED
    assert registry.load_backend("camera_picamera2").discover() == []


class FakeCamera:
    """Enough of Picamera2's API: configure/start/capture_array/stop/close, and a switch to unplug."""

    plugged = True

    def __init__(self, num: int) -> None:
        self.size = (64, 48)
        self.camera_properties = {"Model": "imx708"}
        self.n = 0

    @staticmethod
    def global_camera_info():
        return [{"Model": "imx708"}]

    def create_video_configuration(self, main, controls, buffer_count):
        assert main["format"] == "RGB888"
        return {"size": main["size"], "fps": controls["FrameRate"]}

    def configure(self, conf):
        self.size, self.fps = conf["size"], conf["fps"]

    def start(self):
        if not FakeCamera.plugged:
            raise RuntimeError("Camera __init__ sequence did not complete")

    def capture_array(self, stream):
        time.sleep(1 / self.fps)
        if not FakeCamera.plugged:
            raise RuntimeError("camera frontend has timed out")
        self.n += 1
        return np.full((self.size[1], self.size[0], 3), self.n % 255, np.uint8)

    def stop(self):
        pass

    def close(self):
        pass


class TestPicamera2Contract(DeviceContractTests):
    @pytest.fixture
    def rig(self, monkeypatch):
        mod = types.ModuleType("picamera2")
        mod.Picamera2 = FakeCamera  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "picamera2", mod)
        FakeCamera.plugged = True
        dev = registry.create("camera_picamera2", {"width": 64, "height": 48, "fps": 30})
        dev.open()
        lock = threading.Lock()

        def set_plugged(v: bool) -> None:
            with lock:
                FakeCamera.plugged = v

        yield Rig(device=dev, present=lambda: None, unplug=lambda: set_plugged(False),
                  replug=lambda: set_plugged(True), no_sample_possible=False,
                  check_sample=lambda r: r.sample.data.shape == (48, 64, 3) or pytest.fail("shape"))
        dev.close()
