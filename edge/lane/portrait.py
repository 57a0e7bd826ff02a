"""The document portrait: the reference the live face is compared with.

On a real post the page camera images the data page on the reader and `portrait_from_page` takes its
printed portrait (checked against the MRZ read). On a simulated post without a page camera the simulated
face camera's own image stands in. The lane starts the provider when a document is read, off its lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from edge.config import Config
from edge.devices import DeviceSet
from edge.events.model import DocumentSummary

log = logging.getLogger("borderpost.lane.portrait")
# Imaging the page and finding its portrait, at most (measured: ~0.1-0.3 s on the dev machine, see docs/ui.md).
PAGE_TIMEOUT_S = 3.0

PortraitProvider = Callable[[DocumentSummary], "np.ndarray | None"]


def simulated_portrait(cfg: Config):
    """For simulated posts without a page camera: the simulated face camera's image stands in for the portrait.

    None when `[policy] portrait_camera` is set: the page camera then supplies the portrait, as on a real post.
    """
    from drivers.sim.camera_sim import source_images

    if cfg.policy.portrait_camera is not None:
        return None
    for dev in cfg.devices.values():
        if dev.backend == "camera_sim" and dev.simulated:
            paths = source_images(str(dev.settings.get("source", "synthetic")))
            if paths:
                from drivers import safe_image

                try:
                    img = safe_image.read_file(paths[0])
                except safe_image.ImageRejected:
                    return None
                return lambda _doc: img
    return None


class PagePortraitProvider:
    """The lane's portrait provider on a post with a page camera: image the data page, take its portrait.

    Called by the lane's portrait worker (off its lock) when the reader delivers a document; still bounded,
    as the face step waits for it: grabbing frames and `portrait_from_page` together take at most `timeout`
    seconds, else no portrait.
    The reason for a missing portrait is kept for that document only (`reason(doc)`); the log says the
    outcome and the time, never the MRZ or the image.
    """

    def __init__(self, devices: DeviceSet, camera: str, analyzer: Callable[[], Any], *,
                 timeout: float = PAGE_TIMEOUT_S, frames: int = 2, today: Any = None) -> None:
        self.devices = devices
        self.camera = camera
        self.analyzer = analyzer
        self.timeout = timeout
        self.frames = frames
        self.today = today
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-page")
        self._last: tuple[DocumentSummary | None, str | None] = (None, None)

    def __call__(self, doc: DocumentSummary) -> np.ndarray | None:
        t0 = time.monotonic()
        image, reason = self._portrait(doc)
        self._last = (doc, reason)
        log.info("document page portrait: %s (%.0f ms)", reason or "found", 1000 * (time.monotonic() - t0))
        return image

    def reason(self, doc: DocumentSummary | None) -> str | None:
        """Why `doc` got no portrait (a `page.*` key), if it was the last document asked for."""
        last, why = self._last
        return why if doc is not None and last is doc else None

    def _portrait(self, doc: DocumentSummary) -> tuple[np.ndarray | None, str | None]:
        from edge.documents.portrait import portrait_from_page

        analyzer = self.analyzer()        # loaded once (the face step needs it too): not counted in the timeout
        if analyzer is None:
            return None, "page.no_face_analysis"
        deadline = time.monotonic() + self.timeout
        opened = self.devices.devices.get(self.camera)
        if opened is None or opened.device is None:
            return None, "page.camera_unavailable"
        frame = grab_sharpest(opened.device, self.frames, deadline - time.monotonic())
        if frame is None:
            return None, "page.no_frame"
        job = self._pool.submit(portrait_from_page, frame, doc, analyzer, self.today)
        try:
            found = job.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            return None, "page.timeout"      # the job ends on its own (OCR is bounded); nobody waits for it
        except Exception as exc:             # the traveller goes to an officer; the log says what broke
            log.error("document page portrait failed: %s", type(exc).__name__)
            return None, "page.error"
        return found.image, found.reason

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _sharpness(image: np.ndarray) -> float:
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if grey.shape[1] > 640:
        grey = cv2.resize(grey, (640, round(grey.shape[0] * 640 / grey.shape[1])), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def grab_sharpest(device: Any, frames: int, budget: float) -> np.ndarray | None:
    """The sharpest of up to `frames` fresh frames from `device` within `budget` seconds (None: no frame)."""
    end = time.monotonic() + max(0.0, budget)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(max(1, frames)):
        left = end - time.monotonic()
        if left <= 0:
            break
        res = device.capture(timeout=min(left, 1.0))
        if not res.ok or res.sample is None or not isinstance(res.sample.data, np.ndarray):
            continue
        score = _sharpness(res.sample.data)
        if best is None or score > best[0]:
            best = (score, res.sample.data)
    return None if best is None else best[1]


def page_portrait_provider(cfg: Config, devices: DeviceSet,
                           analyzer: Callable[[], Any]) -> PagePortraitProvider | None:
    """The real provider when `[policy] portrait_camera` names the page camera; None otherwise."""
    if cfg.policy.portrait_camera is None:
        return None
    return PagePortraitProvider(devices, cfg.policy.portrait_camera, analyzer)
