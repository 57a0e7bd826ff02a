"""Backends from other packages: an entry point in `borderpost.backends` is found, loaded, validated and simulated.

The plugin is installed the way pip would leave it: a module and a `*.dist-info` with `entry_points.txt` in
a directory on sys.path (nothing is downloaded or installed into the venv).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from drivers import registry
from drivers.contract import DeviceKind, ErrorCode
from tests.drivers.contract import DeviceContractTests, Rig

PLUGIN = '''
"""A camera vendor's backend and its simulator, shipped as their own package."""
import threading
import time

import numpy as np

from drivers.contract import (BackendConfig, CaptureResult, Device, DeviceInfo, DeviceKind, Discovered, ErrorCode,
                              Sample, Status, StatusReport)


class Config(BackendConfig):
    width: int = 64
    glass: str = "acme0"


class Glass:
    """The device's side: what is in front of the lens and whether the cable is in."""

    def __init__(self):
        self.plugged, self.pending, self.cond = True, 0, threading.Condition()


GLASSES = {}


class AcmeCamera(Device):
    kind = DeviceKind.CAMERA
    name = "acme_cam"
    Config = Config

    def __init__(self, config):
        super().__init__(config)
        self.glass = GLASSES.setdefault(config.glass, Glass())
        self.opened = False

    @classmethod
    def discover(cls):
        return [Discovered(cls.name, {}, "Acme C1 (plugin)")]

    def open(self):
        self.opened = True

    def close(self):
        self.opened = False

    def info(self):
        return DeviceInfo(DeviceKind.CAMERA, self.name, make="Acme", model="C1")

    def status(self):
        if not (self.opened and self.glass.plugged):
            return StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED, "unplugged")
        return StatusReport(Status.READY)

    def capture(self, timeout, min_quality=None):
        end = time.monotonic() + timeout
        with self.glass.cond:
            while self.glass.plugged and not self.glass.pending and time.monotonic() < end:
                self.glass.cond.wait(max(0.0, end - time.monotonic()))
            if not self.glass.plugged:
                return CaptureResult.fail(ErrorCode.DISCONNECTED, "unplugged")
            if not self.glass.pending:
                return CaptureResult.fail(ErrorCode.NO_SAMPLE, "nothing in front of the lens")
            self.glass.pending -= 1
        img = np.full((48, self.config.width, 3), 128, np.uint8)
        return CaptureResult(Sample(DeviceKind.CAMERA, img, meta={"backend": self.name}))


BACKEND = AcmeCamera


class Simulation:
    def __init__(self, config):
        self.config = config
        self.glass = GLASSES.setdefault(config.glass, Glass())

    def present(self):
        with self.glass.cond:
            self.glass.pending += 1
            self.glass.cond.notify_all()

    def unplug(self):
        with self.glass.cond:
            self.glass.plugged = False
            self.glass.cond.notify_all()

    def replug(self):
        with self.glass.cond:
            self.glass.plugged = True

    def close(self):
        GLASSES.pop(self.config.glass, None)


def start(config):
    return Simulation(config)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory):
    site = tmp_path_factory.mktemp("site")
    (site / "acme_borderpost.py").write_text(PLUGIN)
    dist = site / "acme_borderpost-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-borderpost\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [borderpost.backends]
        acme_cam = acme_borderpost
        broken_cam = acme_borderpost_missing:BACKEND

        [borderpost.simulators]
        acme_cam = acme_borderpost
        """))
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("acme_borderpost", None)


def test_entry_point_backend_is_listed_next_to_the_built_ins(plugin: Path) -> None:
    names = registry.backend_names()
    assert {"acme_cam", "broken_cam", "mrz_serial", "camera_sim"} <= set(names)


def test_entry_point_backend_loads_and_validates_its_settings(plugin: Path) -> None:
    cls = registry.load_backend("acme_cam")
    assert cls.kind is DeviceKind.CAMERA and cls.__module__ == "acme_borderpost"
    assert registry.parse_settings("acme_cam", {"width": 32}).width == 32
    with pytest.raises(registry.ValidationError):
        registry.parse_settings("acme_cam", {"widht": 32})


def test_a_broken_plugin_is_reported_not_fatal(plugin: Path) -> None:
    with pytest.raises(registry.BackendUnavailable, match="broken_cam"):
        registry.load_backend("broken_cam")
    entries = {e.name: e for e in registry.all_backends()}
    assert entries["broken_cam"].cls is None and "ModuleNotFoundError" in entries["broken_cam"].error
    assert entries["acme_cam"].cls is not None


def test_unknown_backend_names_the_plugins_too(plugin: Path) -> None:
    with pytest.raises(registry.BackendUnavailable, match="acme_cam"):
        registry.load_backend("nope")


@pytest.fixture
def rig(plugin: Path):
    sim = registry.start_simulator("acme_cam", registry.parse_settings("acme_cam", {}))
    dev = registry.create("acme_cam", sim.config)
    dev.open()

    def check(result) -> None:
        assert result.sample.data.shape == (48, 64, 3)

    yield Rig(dev, present=sim.present, unplug=sim.unplug, replug=sim.replug, check_sample=check)
    dev.close()
    sim.close()


class TestPluginContract(DeviceContractTests):
    """The same contract suite a built-in backend passes, run against the plugin through its simulator."""


def test_plugin_capture_without_a_sample_is_no_sample(rig: Rig) -> None:
    assert rig.device.capture(0.1).error is ErrorCode.NO_SAMPLE


def test_doctor_names_plugins_and_broken_ones(plugin: Path) -> None:
    from edge.cli.doctor import check_backends

    rows = {r["name"]: r for r in check_backends()}
    assert rows["backend:acme_cam"]["status"] == "plugin" and "acme_borderpost" in rows["backend:acme_cam"]["detail"]
    assert rows["backend:broken_cam"]["status"] == "unavailable"
    assert "backend:mrz_serial" not in rows          # a loadable built-in needs no line
    assert registry.plugin_names() == ["acme_cam", "broken_cam"]
