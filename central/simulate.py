"""`central simulate`: many devices' traffic from one process — each device with its own Ed25519 key, enrolled.

The events are the appliance's own (the `Crossing` model, signed by `edge.events.envelope.build`), published on
each device's own topic. A few MQTT connections carry all devices (hundreds of paho clients, each with its own
thread, would measure this machine's scheduler, not the agency side); the broker sees the same topics and bytes.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from central.ingest import new_client
from central.registry import Enrolment, b64_of, enrol
from edge.events import envelope
from edge.events.model import Crossing, Decision, DocumentSummary

NATIONALITIES = ("NGA", "GHA", "BEN", "TGO", "NER", "BFA", "CIV", "MLI", "SEN", "FRA", "GBR", "USA", "CHN", "LBN")
OUTCOMES = (("admit", 85), ("refuse", 4), ("refer", 3), ("handover", 7), ("abandoned", 1))
REFUSALS = ("document.expired", "document.invalid", "alert.hit", "face.no_match")
HANDOVERS = ("face.quality", "finger.quality", "document.unreadable", "traveller.assistance")


@dataclass
class SimDevice:
    post: str
    device: str
    key: Ed25519PrivateKey
    seq: int = 0
    rng: random.Random = field(default_factory=random.Random)

    @property
    def topic_base(self) -> str:
        return f"{self.post}/{self.device}"


def crossing_data(dev: SimDevice, rng: random.Random) -> Crossing:
    outcome = rng.choices([o for o, _ in OUTCOMES], weights=[w for _, w in OUTCOMES])[0]
    codes = [rng.choice(REFUSALS)] if outcome == "refuse" else [rng.choice(HANDOVERS)] if outcome == "handover" else []
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
    doc = DocumentSummary(format="TD3", document_code="P", issuing_state=rng.choice(NATIONALITIES),
                          document_number=f"S{rng.randrange(10**8):08d}", nationality=rng.choice(NATIONALITIES),
                          birth_date=born.isoformat(), expiry_date="2031-01-01", sex=rng.choice("MF"), valid=True)
    return Crossing(post=dev.post, device=dev.device, role="kiosk", transaction=f"T{rng.randrange(10**6):06d}",
                    direction=rng.choice(("entry", "exit")), document=doc,
                    decision=Decision(outcome=outcome, by="kiosk" if rng.random() < 0.7 else "officer-7",
                                      reason_codes=codes),
                    alerts=["list-1:hit"] if "alert.hit" in codes else [])


def signed_event(dev: SimDevice, prefix: str, now: datetime | None = None) -> tuple[str, bytes]:
    dev.seq += 1
    event = envelope.build("crossing", crossing_data(dev, dev.rng), key=dev.key, post=dev.post, device=dev.device,
                           sequence=dev.seq, time=now or datetime.now(UTC), clock_synced=True)
    return f"{prefix}/{dev.post}/{dev.device}/events/crossing", envelope.encode(event)


@dataclass
class Fleet:
    devices: list[SimDevice]

    @classmethod
    def create(cls, posts: int, per_post: int, keys_dir: Path | None = None, seed: int = 1) -> Fleet:
        """Devices `sim-post-NNN/kiosk-N`; keys (and sequence numbers) kept in `keys_dir` when given."""
        devs = []
        state = {}
        if keys_dir is not None:
            keys_dir.mkdir(parents=True, exist_ok=True)
            state_file = keys_dir / "sequences.json"
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
        for p in range(posts):
            for d in range(per_post):
                post, device = f"sim-post-{p + 1:03d}", f"kiosk-{d + 1}"
                key = _key(keys_dir / f"{post}_{device}.pem" if keys_dir else None)
                devs.append(SimDevice(post, device, key, seq=state.get(f"{post}/{device}", 0),
                                      rng=random.Random(f"{seed}/{post}/{device}")))
        return cls(devs)

    def save(self, keys_dir: Path) -> None:
        (keys_dir / "sequences.json").write_text(json.dumps({d.topic_base: d.seq for d in self.devices}))

    def enrol(self, engine: Engine, actor: str) -> None:
        for d in self.devices:
            enrol(engine, Enrolment(d.post, d.device, b64_of(d.key.public_key())), actor)


def _key(path: Path | None) -> Ed25519PrivateKey:
    if path is not None and path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key
    key = Ed25519PrivateKey.generate()
    if path is not None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return key


class Publisher:
    """A few QoS 1 connections; at most `window` unacknowledged publishes each."""

    def __init__(self, broker_url: str, connections: int = 2, window: int = 500) -> None:
        self.clients = []
        self.window = window
        self._cond = threading.Condition()
        self._outstanding = [0] * connections
        self.acked = 0
        for i in range(connections):
            client, host, port = new_client(broker_url, f"central-sim-{os.getpid()}-{i}")
            client.on_publish = lambda c, u, mid, rc, p, i=i: self._acked(i)
            client.connect(host, port, keepalive=30)
            client.loop_start()
            self.clients.append(client)

    def _acked(self, i: int) -> None:
        with self._cond:
            self._outstanding[i] -= 1
            self.acked += 1
            self._cond.notify_all()

    def publish(self, n: int, topic: str, payload: bytes) -> None:
        i = n % len(self.clients)
        with self._cond:
            while self._outstanding[i] >= self.window:
                self._cond.wait(1.0)
            self._outstanding[i] += 1
        self.clients[i].publish(topic, payload, qos=1)

    def drain(self, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        with self._cond:
            while any(self._outstanding) and time.monotonic() < end:
                self._cond.wait(0.2)
            return not any(self._outstanding)

    def close(self) -> None:
        for c in self.clients:
            c.disconnect()
            c.loop_stop()


def run(fleet: Fleet, broker_url: str, prefix: str, *, rate_per_min: float, duration_s: float,
        stop: threading.Event | None = None) -> dict[str, Any]:
    """Each device records crossings at `rate_per_min` (Poisson arrivals), stamped when built, for `duration_s`."""
    pub = Publisher(broker_url)
    rng = random.Random(7)
    t0 = time.monotonic()
    mean = 60.0 / rate_per_min
    heap = [(t0 + rng.expovariate(1 / mean), i) for i in range(len(fleet.devices))]
    heapq.heapify(heap)
    sent = 0
    try:
        while heap and not (stop is not None and stop.is_set()):
            at, i = heapq.heappop(heap)
            if at > t0 + duration_s:
                break
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            topic, payload = signed_event(fleet.devices[i], prefix)
            pub.publish(sent, topic, payload)
            sent += 1
            heapq.heappush(heap, (at + rng.expovariate(1 / mean), i))
        drained = pub.drain()
    finally:
        pub.close()
    seconds = time.monotonic() - t0
    return {"devices": len(fleet.devices), "events": sent, "acknowledged": pub.acked, "drained": drained,
            "seconds": round(seconds, 2), "events_per_s": round(sent / seconds, 2) if seconds else 0.0}
