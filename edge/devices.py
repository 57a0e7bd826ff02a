"""Open the configured devices (starting their simulators where asked), and report on them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from drivers import registry
from drivers.contract import Device, DeviceKind, StatusReport
from edge.config import Config

log = logging.getLogger("borderpost.devices")


@dataclass
class OpenDevice:
    name: str
    backend: str
    device: Device | None
    simulation: Any = None
    error: str | None = None

    def status(self) -> StatusReport | None:
        return self.device.status() if self.device else None


@dataclass
class DeviceSet:
    devices: dict[str, OpenDevice] = field(default_factory=dict)

    def of_kind(self, kind: DeviceKind) -> list[OpenDevice]:
        return [d for d in self.devices.values() if d.device is not None and d.device.kind is kind]

    def first(self, kind: DeviceKind, exclude: str | tuple[str, ...] | None = None) -> OpenDevice | None:
        """The first open device of `kind`, skipping the names in `exclude` (e.g. the page camera)."""
        skip = (exclude,) if isinstance(exclude, str) else tuple(exclude or ())
        found = [d for d in self.of_kind(kind) if d.name not in skip]
        return found[0] if found else None

    def close(self) -> None:
        for d in self.devices.values():
            if d.device is not None:
                d.device.close()
            if d.simulation is not None:
                d.simulation.close()


def open_devices(cfg: Config, force_simulated: bool = False) -> DeviceSet:
    """Every enabled device, opened. A backend that cannot load is kept with its error (doctor shows it)."""
    out = DeviceSet()
    for name, dev in cfg.devices.items():
        if not dev.enabled:
            continue
        try:
            cls = registry.load_backend(dev.backend)
            settings = cls.Config.model_validate(dev.settings)
            sim = None
            if dev.simulated or force_simulated:
                sim = registry.start_simulator(dev.backend, settings)
                settings = sim.config
            device = cls(settings)
            device.open()
            out.devices[name] = OpenDevice(name, dev.backend, device, sim)
        except registry.BackendUnavailable as exc:
            log.error("device %s: %s", name, exc)
            out.devices[name] = OpenDevice(name, dev.backend, None, error=str(exc))
        except Exception as exc:  # a device must never stop the station from starting
            log.exception("device %s failed to open", name)
            out.devices[name] = OpenDevice(name, dev.backend, None, error=f"{type(exc).__name__}: {exc}")
    return out
