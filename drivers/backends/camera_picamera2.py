"""Raspberry Pi cameras through picamera2 (libcamera). Imported lazily: only Raspberry Pi OS provides it.

This module imports anywhere; `open()` reports `error / unsupported` when picamera2 (or the libcamera
bindings it needs) cannot be imported, instead of failing the station. On a Pi, create the venv with
`--system-site-packages` so the OS's `python3-picamera2` is visible.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from pydantic import Field

from drivers.backends._camera_base import CameraConfig, CameraUnavailable, ThreadedCamera
from drivers.contract import DeviceInfo, DeviceKind, Discovered


class CameraPicamera2Config(CameraConfig):
    camera_num: int = Field(default=0, ge=0, le=7)
    width: int = Field(default=1280, ge=16, le=8192)
    height: int = Field(default=960, ge=16, le=8192)


def _picamera2() -> Any:
    try:
        return importlib.import_module("picamera2")
    except Exception as exc:  # ImportError, or libcamera's own errors off a Pi
        raise CameraUnavailable(f"picamera2 not available here: {type(exc).__name__}: {exc}") from None


class CameraPicamera2(ThreadedCamera):
    name = "camera_picamera2"
    Config = CameraPicamera2Config

    def __init__(self, config: CameraPicamera2Config) -> None:
        super().__init__(config)
        self.config: CameraPicamera2Config = config
        self._cam: Any = None
        self._model = "unknown"

    @classmethod
    def discover(cls) -> list[Discovered]:
        try:
            mod = _picamera2()
            cams = mod.Picamera2.global_camera_info()
        except Exception:
            return []
        return [Discovered(cls.name, {"camera_num": i}, str(c.get("Model", "camera"))) for i, c in enumerate(cams)]

    def info(self) -> DeviceInfo:
        return DeviceInfo(kind=DeviceKind.CAMERA, backend=self.name, make="Raspberry Pi", model=self._model,
                          extra={"camera_num": self.config.camera_num, "width": self.config.width,
                                 "height": self.config.height, "fps": self.config.fps})

    def _connect(self) -> None:
        mod = _picamera2()
        cam = mod.Picamera2(self.config.camera_num)
        try:
            # "RGB888" is stored B, G, R in memory: exactly OpenCV's BGR
            conf = cam.create_video_configuration(
                main={"size": (self.config.width, self.config.height), "format": "RGB888"},
                controls={"FrameRate": self.config.fps}, buffer_count=2)
            cam.configure(conf)
            cam.start()
            props = getattr(cam, "camera_properties", {}) or {}
            self._model = str(props.get("Model", "unknown"))
        except Exception:
            cam.close()
            raise
        self._cam = cam

    def _read(self) -> np.ndarray | None:
        if self._cam is None:
            return None
        frame = self._cam.capture_array("main")
        if frame is None or getattr(frame, "size", 0) == 0:
            return None
        return np.ascontiguousarray(frame[:, :, :3])

    def _disconnect(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()


BACKEND = CameraPicamera2
