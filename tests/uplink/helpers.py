"""Building blocks for uplink tests: a config + store + recorder, an uplink thread, and checks on what arrived."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from edge.config import Config, parse
from edge.events import envelope
from edge.events.model import Crossing, Decision
from edge.identity import DeviceKey, load_or_create_key
from edge.recorder import Recorder
from edge.store import Store
from edge.uplink import Uplink


def config_text(tmp_path: Path, url: str, broker_extra: str = "", keys: str = "") -> str:
    return f"""
[identity]
post = "post-t"
device = "dev-t"
signing_key = "{tmp_path}/device.pem"
[keys]
{keys}
[store]
path = "{tmp_path}/store.db"
min_free_mb = 0
[broker]
url = "{url}"
keepalive = 5
telemetry_interval_s = 3600
{broker_extra}
"""


@dataclass
class Post:
    cfg: Config
    store: Store
    recorder: Recorder
    key: DeviceKey
    path: Path

    def record(self, n: int, start: int = 0) -> list[str]:
        ids = []
        for i in range(start, start + n):
            c = Crossing(post="post-t", device="dev-t", role="kiosk", transaction=f"T{i:06d}",
                         decision=Decision(outcome="recorded", by="kiosk"))
            ids.append(self.recorder.record_crossing(c).event_id)
        return ids


def make_post(tmp_path: Path, url: str, broker_extra: str = "", keys: str = "") -> Post:
    text = config_text(tmp_path, url, broker_extra, keys)
    (tmp_path / "config.toml").write_text(text)
    cfg = parse(text)
    store = Store.open(cfg.store.path, min_free_mb=0)
    key = load_or_create_key(cfg.identity.signing_key)
    return Post(cfg, store, Recorder(cfg, store, key), key, tmp_path / "config.toml")


class UplinkThread:
    def __init__(self, post: Post) -> None:
        self.stop = threading.Event()
        self.uplink = Uplink(post.cfg, Store.open(post.cfg.store.path, min_free_mb=0, synchronous="NORMAL"),
                             post.key)
        self.thread = threading.Thread(target=self.uplink.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


def crossing_events(payloads: list[bytes]) -> list[dict]:
    return [json.loads(p) for p in payloads]


def check_delivery(events: list[dict], expected_ids: list[str], key) -> None:
    """Every id arrived, each with a valid signature; duplicates carry the same id; first arrivals in order."""
    ids = [e["id"] for e in events]
    assert set(ids) >= set(expected_ids), f"missing {len(set(expected_ids) - set(ids))} events"
    seen: set[str] = set()
    firsts = []
    for e in events:
        if e["id"] not in seen:
            seen.add(e["id"])
            firsts.append(int(e["sequence"]))
    assert firsts == sorted(firsts), "per-device order broken"
    for e in {e["id"]: e for e in events}.values():
        assert envelope.verify(e, key.public).ok
