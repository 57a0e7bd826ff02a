"""USB/CSI cameras through OpenCV's V4L2 capture (any UVC webcam on a Pi or a PC).

`device` is a path (`/dev/video0`, or a stable `/dev/v4l/by-id/...` link) or an index. With
`api = "any"` OpenCV picks the backend, which also plays video files: the tests use that to run the
contract suite through the real capture path. Frames are paced to `fps` (a file would play at disk speed).
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from drivers.backends._camera_base import CameraConfig, ThreadedCamera
from drivers.contract import DeviceInfo, DeviceKind, Discovered


class CameraV4L2Config(CameraConfig):
    device: str = "/dev/video0"
    api: Literal["v4l2", "any"] = "v4l2"
    fourcc: str | None = Field(default="MJPG", min_length=4, max_length=4)   # MJPG gets 30 fps over USB 2
    buffers: int = Field(default=1, ge=1, le=8)   # small: the newest frame, not a backlog


class CameraV4L2(ThreadedCamera):
    name = "camera_v4l2"
    Config = CameraV4L2Config

    def __init__(self, config: CameraV4L2Config) -> None:
        super().__init__(config)
        self.config: CameraV4L2Config = config
        self._cap: Any = None
        self._is_file = False
        self._path: str | None = None
        self._next_due = 0.0

    @classmethod
    def discover(cls) -> list[Discovered]:
        out = []
        for path in sorted(glob.glob("/dev/video*")):
            name_file = f"/sys/class/video4linux/{os.path.basename(path)}/name"
            try:
                with open(name_file, encoding="utf-8") as f:
                    desc = f.read().strip()
            except OSError:
                desc = "V4L2 device"
            out.append(Discovered(cls.name, {"device": path}, desc))
        return out

    def info(self) -> DeviceInfo:
        extra: dict[str, Any] = {"device": self.config.device, "width": self.config.width,
                                 "height": self.config.height, "fps": self.config.fps}
        model = "unknown"
        base = os.path.basename(os.path.realpath(self.config.device))
        try:
            with open(f"/sys/class/video4linux/{base}/name", encoding="utf-8") as f:
                model = f.read().strip()
        except OSError:
            pass
        return DeviceInfo(kind=DeviceKind.CAMERA, backend=self.name, make="V4L2", model=model, extra=extra)

    def _source(self) -> str | int:
        d = self.config.device
        return int(d) if d.isdigit() else d

    def _connect(self) -> None:
        src = self._source()
        if isinstance(src, str) and not os.path.exists(src):
            raise OSError(f"{src}: no such device")
        api = cv2.CAP_V4L2 if self.config.api == "v4l2" else cv2.CAP_ANY
        cap = cv2.VideoCapture(src, api)
        if not cap.isOpened():
            cap.release()
            raise OSError(f"{src}: cannot open")
        if self.config.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.config.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        cap.set(cv2.CAP_PROP_FPS, self.config.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, self.config.buffers)
        self._cap = cap
        self._is_file = isinstance(src, str) and os.path.isfile(src)
        self._path = src if isinstance(src, str) else None
        self._next_due = time.monotonic()

    def _read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        delay = self._next_due - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        self._next_due = max(self._next_due + 1.0 / self.config.fps, time.monotonic() - 1.0)
        if self._path is not None and not os.path.exists(self._path):
            return None               # the node went away (unplugged): do not wait for a read error
        ok, frame = self._cap.read()
        if (not ok or frame is None) and self._is_file:
            # a recorded file loops; if rewinding does not give a frame, the file is gone or broken
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read() if os.path.exists(self.config.device) else (False, None)
        if not ok or frame is None or frame.size == 0:
            return None
        return frame

    def _disconnect(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


BACKEND = CameraV4L2
