"""Serve the three UIs next to a running station: its own store connection, recorder and web server.

`UIServer` is what `borderpost station` (when `[ui] enabled`) and `borderpost simulate --ui` start. It
takes the document reads from the station while a kiosk session waits for a document, so the station
keeps owning the devices and the auto mode keeps working when no one is at the kiosk.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import Config
from edge.devices import DeviceSet
from edge.events.model import DocumentSummary
from edge.identity import DeviceKey, load_or_create_key
from edge.recorder import Recorder
from edge.store import Store
from kiosk_ui.accounts import Accounts
from kiosk_ui.hub import Hub, Options
from kiosk_ui.tech import LogBuffer
from kiosk_ui.web import create_app
from kiosk_ui.workers import Workers

log = logging.getLogger("borderpost.ui")
DEMO_FACE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faces" / "person01_img10.jpg"
# Imaging the page and finding its portrait, at most (measured: ~0.1-0.3 s on the dev machine, see docs/ui.md).
PAGE_TIMEOUT_S = 3.0


class _BelowLevel(logging.Filter):
    """Drops records of `name` below `level` (keeps the terminal as quiet as it was)."""

    def __init__(self, name: str, level: int) -> None:
        super().__init__()
        self.prefix, self.level = name, level

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(self.prefix) and record.levelno < self.level)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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


class UIServer:
    def __init__(self, cfg: Config, devices: DeviceSet, *, host: str | None = None, port: int | None = None,
                 options: Options | None = None, key: DeviceKey | None = None,
                 portrait_provider: Any = None, info_logs: bool = False) -> None:
        self.cfg = cfg
        self.host = host or cfg.ui.host
        self.port = port if port is not None else cfg.ui.port
        if self.port == 0:
            self.port = free_port(self.host)
        self.store = Store.open(cfg.store.path, max_db_mb=cfg.store.max_db_mb, min_free_mb=cfg.store.min_free_mb)
        key = key or load_or_create_key(cfg.identity.signing_key)
        self.hub = Hub(cfg, self.store, Recorder(cfg, self.store, key), devices, options,
                       portrait_provider=portrait_provider)
        self.hub.workers = Workers(self.hub)
        if portrait_provider is None:     # a real post's page camera (if the config names one) gives the portrait
            self.hub.portrait_provider = page_portrait_provider(cfg, devices, self.hub.workers.analyzer)
        self.accounts = Accounts(self.store, self.hub.options.max_failures, self.hub.options.lockout_s,
                                 lock=self.hub.lock)
        self.app = create_app(self.hub, self.accounts)
        self.logs = LogBuffer()
        self.app.state.ui.log_buffer = self.logs
        self.info_logs = info_logs               # raise `borderpost` to INFO for the console (CLI use only)
        self._restore_logs: list[Any] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> UIServer:
        import uvicorn

        self._capture_info_logs()
        self.hub.start()
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off",
                                access_log=False, timeout_graceful_shutdown=1, ws="none")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None   # the caller owns signals
        self._thread = threading.Thread(target=self._server.run, name="ui-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the UI could not start on {self.url} (port in use?)")
            time.sleep(0.02)
        log.info("UIs on %s/kiosk, /booth and /tech", self.url)
        return self

    def _capture_info_logs(self) -> None:
        """The console shows INFO lines even when the terminal shows only warnings."""
        logger = logging.getLogger("borderpost")
        logger.addHandler(self.logs)
        shown = logger.getEffectiveLevel()
        if self.info_logs and shown > logging.INFO:
            previous = logger.level
            logger.setLevel(logging.INFO)
            quiet = _BelowLevel("borderpost", shown)
            handlers = list(logging.getLogger().handlers)
            for h in handlers:
                h.addFilter(quiet)
            self._restore_logs = [lambda: logger.setLevel(previous),
                                  *[(lambda h=h: h.removeFilter(quiet)) for h in handlers]]

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.hub.stop()
        if isinstance(self.hub.portrait_provider, PagePortraitProvider):
            self.hub.portrait_provider.close()
        logging.getLogger("borderpost").removeHandler(self.logs)
        for undo in self._restore_logs:
            undo()
        self.store.close()

    def attach(self, station: Any) -> None:
        """Route the station's document reads to a waiting kiosk session; other reads stay auto-recorded."""
        station.on_document = self.hub.offer_document
        self.hub.attached = True

    def demo_accounts(self) -> dict[str, str]:
        """An officer and a technician with fresh random passwords (for simulations only)."""
        out = {}
        for account_id, role in (("officer1", "officer"), ("tech1", "technician")):
            password = secrets.token_urlsafe(9)
            if self.accounts.get(account_id) is None:
                self.accounts.add(account_id, account_id, role, password, actor="simulate")
            else:
                self.accounts.set_password(account_id, password, actor="simulate")
            out[account_id] = password
        return out


class PagePortraitProvider:
    """The hub's portrait provider on a post with a page camera: image the data page, take its portrait.

    Called by the hub's portrait worker (off its lock) when the reader delivers a document; still bounded,
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


def demo_config(cfg: Config) -> Config:
    """For `simulate --ui`: a simulated camera that shows a face (synthetic frames have none)."""
    from edge.config import Device

    cfg = cfg.model_copy(deep=True)
    if not DEMO_FACE.exists():
        return cfg
    cams = {n: d for n, d in cfg.devices.items() if d.backend == "camera_sim" and n != cfg.policy.portrait_camera}
    for name, dev in cams.items():
        if str(dev.settings.get("source", "synthetic")) == "synthetic":
            cfg.devices[name] = Device.model_validate({**dev.model_dump(), "source": str(DEMO_FACE)})
    if not cams and not any(d.backend.startswith("camera") for d in cfg.devices.values()):
        cfg.devices["camera"] = Device.model_validate(
            {"backend": "camera_sim", "simulated": True, "source": str(DEMO_FACE)})
    return cfg


def simulation_hooks(cfg: Config, port: int | None, echo: Any = print) -> tuple[Config, dict[str, Any]]:
    """What `simulate --ui` passes to `edge.simulate.run`: start the UIs when ready, run until Ctrl-C."""
    import signal

    cfg = demo_config(cfg)
    keep = threading.Event()
    holder: dict[str, UIServer] = {}

    def on_ready(station: Any) -> None:
        server = UIServer(cfg, station.devices, host="127.0.0.1", port=port,
                          portrait_provider=simulated_portrait(cfg), info_logs=True)
        server.attach(station)
        creds = server.demo_accounts()
        server.start()
        holder["server"] = server
        echo(f"kiosk:      {server.url}/kiosk   (?lang=ar|en|fr)")
        echo(f"booth:      {server.url}/booth   officer1 / {creds['officer1']}")
        echo(f"technician: {server.url}/tech    tech1 / {creds['tech1']}")
        echo("Press Ctrl-C to stop.")

    def on_stop() -> None:
        if "server" in holder:
            holder["server"].stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: keep.set())
    return cfg, {"keep_running": keep, "on_ready": on_ready, "on_stop": on_stop}
