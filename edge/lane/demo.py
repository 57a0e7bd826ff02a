"""The demo's hands: on a simulated post, the kiosk's demo buttons put a document or a finger on the devices.

The UIs never touch a simulator; they ask the lane here, and these do nothing on real devices.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Literal

from drivers.contract import DeviceKind
from edge.config import Config
from edge.devices import DeviceSet


class NotSimulated(LookupError):
    """The device is missing or real: there is nothing to simulate."""


def present_document(devices: DeviceSet, kind: Literal["valid", "expired"], rng: random.Random | None = None) -> None:
    """A synthetic passport on the simulated reader, valid or expired (relative to today)."""
    from edge.documents.synth import make_mrz

    reader = devices.first(DeviceKind.MRZ)
    if reader is None or not hasattr(reader.simulation, "present"):
        raise NotSimulated("no simulated reader")
    today = date.today()
    expiry = date(today.year - 2, 3, 31) if kind == "expired" else date(today.year + 6, 6, 30)
    reader.simulation.present(make_mrz("TD3", rng=rng or random.Random(), expiry_date=expiry))


def finger_on(devices: DeviceSet) -> None:
    """A synthetic traveller's fingers on the simulated sensor: each finger the kiosk asks for, lifted when asked."""
    sensor = devices.first(DeviceKind.FINGERPRINT)
    if sensor is None or not hasattr(sensor.simulation, "finger_on"):
        raise NotSimulated("no simulated fingerprint sensor")
    sensor.simulation.finger_on(compliant=True)


# The demo traveller's face: a packaged public-domain portrait the camera simulator knows by this name.
DEMO_FACE_SOURCE = "astronaut"


def _simulator_has(source: str) -> bool:
    from drivers.sim.camera_sim import source_images

    try:
        return bool(source_images(source))
    except OSError:
        return False


def demo_config(cfg: Config) -> Config:
    """For `simulate --ui`: a simulated camera that shows the demo face (synthetic frames have none)."""
    from edge.config import Device

    cfg = cfg.model_copy(deep=True)
    if not _simulator_has(DEMO_FACE_SOURCE):
        return cfg
    cams = {n: d for n, d in cfg.devices.items() if d.backend == "camera_sim" and n != cfg.policy.portrait_camera}
    for name, dev in cams.items():
        if str(dev.settings.get("source", "synthetic")) == "synthetic":
            cfg.devices[name] = Device.model_validate({**dev.model_dump(), "source": DEMO_FACE_SOURCE})
    if not cams and not any(d.backend.startswith("camera") for d in cfg.devices.values()):
        cfg.devices["camera"] = Device.model_validate(
            {"backend": "camera_sim", "simulated": True, "source": DEMO_FACE_SOURCE})
    return cfg
