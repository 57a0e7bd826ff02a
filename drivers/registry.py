"""Find backends by the name config gives them.

Each backend lives in `drivers/backends/<name>.py` and exports `BACKEND`, a `Device` subclass. Its
device-side simulator, when it has one, lives in `drivers/sim/<name>.py` and exports
`start(config) -> Simulation`. Modules are imported only when asked for, so a backend whose
dependency is missing (picamera2 off a Pi) is reported and skipped instead of breaking the station.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from drivers import backends as _backends_pkg
from drivers.contract import BackendConfig, Device

log = logging.getLogger(__name__)


class Simulation(Protocol):
    """A running device-side simulator; `config` is what the backend must be opened with to reach it."""

    config: BackendConfig

    def close(self) -> None: ...


class BackendUnavailable(Exception):
    """The backend is unknown, or its module failed to import (missing dependency, wrong platform)."""


@dataclass(frozen=True)
class BackendEntry:
    name: str
    cls: type[Device] | None
    error: str | None = None


def backend_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(_backends_pkg.__path__) if not m.name.startswith("_"))


def load_backend(name: str) -> type[Device]:
    if name not in backend_names():
        raise BackendUnavailable(f"unknown backend {name!r} (known: {', '.join(backend_names())})")
    try:
        module = importlib.import_module(f"drivers.backends.{name}")
    except Exception as exc:  # a broken optional dependency must not take the station down
        raise BackendUnavailable(f"backend {name!r} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    cls = getattr(module, "BACKEND", None)
    if not (isinstance(cls, type) and issubclass(cls, Device)):
        raise BackendUnavailable(f"backend module {name!r} exports no BACKEND device class")
    return cls


def all_backends() -> list[BackendEntry]:
    """Every backend with its class, or the reason it could not be loaded (for `doctor`)."""
    out = []
    for name in backend_names():
        try:
            out.append(BackendEntry(name, load_backend(name)))
        except BackendUnavailable as exc:
            log.warning("skipping backend: %s", exc)
            out.append(BackendEntry(name, None, str(exc)))
    return out


def parse_settings(name: str, settings: dict[str, Any]) -> BackendConfig:
    """Validate a backend's settings with its own model (raises pydantic.ValidationError)."""
    return load_backend(name).Config.model_validate(settings)


def create(name: str, settings: dict[str, Any] | BackendConfig) -> Device:
    cls = load_backend(name)
    config = settings if isinstance(settings, BackendConfig) else cls.Config.model_validate(settings)
    return cls(config)


def start_simulator(name: str, config: BackendConfig) -> Simulation:
    """Start the device-side simulator for backend `name` (a PTY, a pyusb backend, an image player)."""
    try:
        module = importlib.import_module(f"drivers.sim.{name}")
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(f"backend {name!r} has no simulator") from exc
    return module.start(config)


__all__ = [
    "BackendEntry",
    "BackendUnavailable",
    "Simulation",
    "ValidationError",
    "all_backends",
    "backend_names",
    "create",
    "load_backend",
    "parse_settings",
    "start_simulator",
]
