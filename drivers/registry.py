"""Find backends by the name config gives them.

Three sources, in this order of precedence: the built-in backends (`drivers/backends/<name>.py`,
exporting `BACKEND`, a `Device` subclass), simulated devices that are backends in their own right
(`SIMULATED`, living under `drivers/sim/`), and backends other packages install through the entry-point
group `borderpost.backends` (name = backend name, value = a module exporting `BACKEND` or the class
itself). A device-side simulator, when there is one, is `drivers/sim/<name>.py` or an entry point in
`borderpost.simulators`, exporting `start(config) -> Simulation`. Modules are imported only when asked
for, so a backend whose dependency is missing (picamera2 off a Pi) is reported and skipped instead of
breaking the station. Production backends never import simulators: the registry is what selects them.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

from pydantic import ValidationError

from drivers import backends as _backends_pkg
from drivers.contract import BackendConfig, Device

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "borderpost.backends"
SIMULATOR_GROUP = "borderpost.simulators"
SIMULATED: dict[str, str] = {"camera_sim": "drivers.sim.camera_backend"}   # simulated devices used as backends


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


def _builtin_names() -> set[str]:
    return {m.name for m in pkgutil.iter_modules(_backends_pkg.__path__) if not m.name.startswith("_")}


def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """Installed entry points of `group` by name (the first distribution wins a duplicate name)."""
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def plugin_names() -> list[str]:
    """Backends installed by other packages (entry points), less any name a built-in already takes."""
    return sorted(set(_entry_points(ENTRY_POINT_GROUP)) - _builtin_names() - set(SIMULATED))


def backend_names() -> list[str]:
    return sorted(_builtin_names() | set(SIMULATED) | set(_entry_points(ENTRY_POINT_GROUP)))


def _import_backend(name: str) -> object:
    if name in _builtin_names():
        return importlib.import_module(f"drivers.backends.{name}")
    if name in SIMULATED:
        return importlib.import_module(SIMULATED[name])
    return _entry_points(ENTRY_POINT_GROUP)[name].load()


def load_backend(name: str) -> type[Device]:
    if name not in backend_names():
        raise BackendUnavailable(f"unknown backend {name!r} (known: {', '.join(backend_names())})")
    try:
        target = _import_backend(name)
    except Exception as exc:  # a broken optional dependency must not take the station down
        raise BackendUnavailable(f"backend {name!r} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    cls = target if isinstance(target, type) else getattr(target, "BACKEND", None)
    if not (isinstance(cls, type) and issubclass(cls, Device)):
        raise BackendUnavailable(f"backend {name!r} exports no BACKEND device class")
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
    plugins = _entry_points(SIMULATOR_GROUP)
    if name in plugins:
        target = plugins[name].load()
        start = target if callable(target) and not hasattr(target, "start") else target.start
        return start(config)
    try:
        module = importlib.import_module(f"drivers.sim.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"drivers.sim.{name}":
            raise
        raise BackendUnavailable(f"backend {name!r} has no simulator") from exc
    return module.start(config)


__all__ = [
    "ENTRY_POINT_GROUP",
    "SIMULATED",
    "SIMULATOR_GROUP",
    "BackendEntry",
    "BackendUnavailable",
    "Simulation",
    "ValidationError",
    "all_backends",
    "backend_names",
    "create",
    "load_backend",
    "parse_settings",
    "plugin_names",
    "start_simulator",
]
