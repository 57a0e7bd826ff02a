"""A whole simulated post with the UIs: simulated reader and camera, station, uplink to a real mosquitto.

It runs through `edge.simulate.run` with zero travellers and the UI attached in `on_ready`, the same
path as `borderpost simulate --ui`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from edge.config import Config, parse
from edge.lane.options import Options
from kiosk_ui.service import UIServer
from tests.fixtures import face_images

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
OFFICER = ("officer1", "correct horse battery")
TECH = ("tech1", "staple battery horse")


def post_config(tmp_path: Path, broker_url: str, face: str = "a2", extra: str = "",
                role: str = "kiosk") -> Config:
    return parse(f"""
[identity]
post = "post-ui"
device = "kiosk-ui"
role = "{role}"
signing_key = "{tmp_path}/device.pem"

[store]
path = "{tmp_path}/store.db"
min_free_mb = 0

[broker]
url = "{broker_url}"
telemetry_interval_s = 3600

[ui]
default_language = "en"
{extra}

[devices.mrz]
backend = "mrz_serial"
simulated = true
port = "simulated"
profile = "cr"

[devices.camera]
backend = "camera_sim"
simulated = true
source = "{face_images.portrait_path(face)}"
width = 640
height = 480
fps = 15
""", "<ui test config>")


@dataclass
class Post:
    cfg: Config
    server: UIServer | None = None
    station: object = None
    keep: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    result: object = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def lane(self):
        assert self.server is not None
        return self.server.lane

    def present(self, expired: bool = False, seed: int | None = None, **fields) -> None:
        """Put a synthetic passport on the simulated reader (a new one each time: readers drop repeats)."""
        import random

        from drivers.contract import DeviceKind
        from edge.documents.synth import make_mrz

        fields.setdefault("expiry_date", date(2020, 1, 31) if expired else date(2034, 6, 30))
        reader = self.lane.devices.first(DeviceKind.MRZ)
        reader.simulation.present(make_mrz("TD3", rng=random.Random(seed), **fields))

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.keep.set()
        if self.thread is not None:
            self.thread.join(20)


def start_post(cfg: Config, options: Options | None = None) -> Post:
    from edge import simulate

    post = Post(cfg)
    ready = threading.Event()
    errors: list[BaseException] = []

    def on_ready(station) -> None:
        try:
            server = UIServer(cfg, station.lane, port=0, options=options or Options())
            server.attach(station)
            for (account, password), name, role in ((OFFICER, "Officer One", "officer"),
                                                    (TECH, "Tech One", "technician")):
                if server.accounts.get(account) is None:   # a post restarted on the same store keeps its accounts
                    server.accounts.add(account, name, role, password)
            server.start()
            post.server, post.station = server, station
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.set()

    def run() -> None:
        post.result = simulate.run(cfg, 0, keep_running=post.keep, on_ready=on_ready, timeout=10)

    post.thread = threading.Thread(target=run, name="post", daemon=True)
    post.thread.start()
    if not ready.wait(30):
        raise RuntimeError("post did not start")
    if errors:
        post.keep.set()
        raise errors[0]
    return post


@pytest.fixture
def make_post(tmp_path: Path, broker):
    posts: list[Post] = []

    def make(options: Options | None = None, **kw) -> Post:
        cfg = post_config(tmp_path, broker.url, **kw)
        p = start_post(cfg, options)
        posts.append(p)
        return p

    yield make
    for p in posts:
        p.stop()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
