"""Signed events of test devices, built with the appliance's own envelope code."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.registry import Enrolment, b64_of
from central.simulate import SimDevice, crossing_data
from central.verify import Enrolled
from edge.events import envelope

PREFIX = "borderpost/v1"


def device(post: str = "post-a", name: str = "kiosk-1", seed: int = 1) -> SimDevice:
    return SimDevice(post, name, Ed25519PrivateKey.generate(), rng=random.Random(seed))


def event(dev: SimDevice, seq: int | None = None, when: datetime | None = None, **changes) -> tuple[str, bytes]:
    """A signed crossing of `dev` (sequence: the next one unless given); `changes` alter data before signing."""
    if seq is None:
        dev.seq += 1
        seq = dev.seq
    data = crossing_data(dev, dev.rng)
    for k, v in changes.items():
        setattr(data, k, v)
    ev = envelope.build("crossing", data, key=dev.key, post=dev.post, device=dev.device, sequence=seq,
                        time=when or datetime.now(UTC), clock_synced=True)
    return f"{PREFIX}/{dev.post}/{dev.device}/events/crossing", envelope.encode(ev)


def lookup_of(*devs: SimDevice):
    table = {(d.post, d.device): Enrolled("active", d.key.public_key()) for d in devs}
    return lambda post, dev: table.get((post, dev))


def enrolment(dev: SimDevice) -> Enrolment:
    return Enrolment(dev.post, dev.device, b64_of(dev.key.public_key()))


def identity_json(dev: SimDevice) -> str:
    return json.dumps({"post": dev.post, "device": dev.device, "public_key_b64": b64_of(dev.key.public_key())})
