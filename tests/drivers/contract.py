"""The device-contract suite every backend's simulator must pass.

Use it by subclassing `DeviceContractTests` in a backend's test module and providing a `rig` fixture
that yields a `Rig`: the opened device plus hooks that act on the simulator (present a sample, unplug,
replug). With real hardware attached, the same class runs against it when the backend's test module
builds the rig from the `BORDERPOST_HW_<KIND>` environment variable (python-can's back-to-back idea).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from drivers.contract import CaptureResult, Device, DeviceInfo, DeviceKind, ErrorCode, Status, StatusReport


@dataclass
class Rig:
    device: Device
    present: Callable[[], None]            # make one sample available (document on the reader, finger on the glass...)
    unplug: Callable[[], None] | None = None
    replug: Callable[[], None] | None = None
    check_sample: Callable[[CaptureResult], None] | None = None  # backend-specific assertions on a good capture
    no_sample_possible: bool = True        # False for a camera that always has frames
    capture_timeout: float = 5.0


def wait_for_status(device: Device, wanted: Status, within: float = 10.0) -> StatusReport:
    end = time.monotonic() + within
    report = device.status()
    while time.monotonic() < end:
        report = device.status()
        if report.status is wanted:
            return report
        time.sleep(0.05)
    raise AssertionError(f"status stayed {report.status} ({report.detail}), wanted {wanted}")


class DeviceContractTests:
    def test_info_names_kind_and_backend(self, rig: Rig) -> None:
        info = rig.device.info()
        assert isinstance(info, DeviceInfo)
        assert info.kind is rig.device.kind
        assert info.backend == rig.device.name

    def test_ready_after_open(self, rig: Rig) -> None:
        wait_for_status(rig.device, Status.READY)

    def test_capture_returns_presented_sample(self, rig: Rig) -> None:
        wait_for_status(rig.device, Status.READY)
        rig.present()
        result = rig.device.capture(timeout=rig.capture_timeout)
        assert result.ok, (result.error, result.detail)
        assert result.sample is not None and result.sample.kind is rig.device.kind
        if rig.check_sample:
            rig.check_sample(result)

    def test_capture_without_sample_ends_at_timeout(self, rig: Rig) -> None:
        if not rig.no_sample_possible:
            pytest.skip("this device always has a sample")
        wait_for_status(rig.device, Status.READY)
        t0 = time.monotonic()
        result = rig.device.capture(timeout=0.5)
        elapsed = time.monotonic() - t0
        assert not result.ok
        assert result.error in (ErrorCode.NO_SAMPLE, ErrorCode.TIMEOUT)
        assert 0.4 <= elapsed < 3.0

    def test_a_sample_that_left_is_reported_gone(self, rig: Rig) -> None:
        """A fingerprint sensor tells the lane the finger left the glass; other devices may say they cannot tell."""
        wait_for_status(rig.device, Status.READY)
        rig.present()
        result = rig.device.capture(timeout=rig.capture_timeout)
        assert result.ok, (result.error, result.detail)
        clear = rig.device.await_removal(timeout=rig.capture_timeout)
        assert clear is True if rig.device.kind is DeviceKind.FINGERPRINT else clear in (True, None)

    def test_unplug_is_reported_and_replug_recovers(self, rig: Rig) -> None:
        if rig.unplug is None or rig.replug is None:
            pytest.skip("simulator cannot unplug")
        wait_for_status(rig.device, Status.READY)
        rig.unplug()
        result = rig.device.capture(timeout=1.0)
        assert not result.ok
        assert rig.device.await_removal(0.2) is not True     # an absent sensor knows nothing left: never raises
        wait_for_status(rig.device, Status.DISCONNECTED)
        rig.replug()
        wait_for_status(rig.device, Status.READY, within=15.0)
        rig.present()
        result = rig.device.capture(timeout=rig.capture_timeout)
        assert result.ok, (result.error, result.detail)

    def test_stream_yields_results(self, rig: Rig) -> None:
        wait_for_status(rig.device, Status.READY)
        rig.present()
        results = []
        for r in rig.device.stream(duration=2.0):
            results.append(r)
            if r.ok:
                break
        assert results and all(isinstance(r, CaptureResult) for r in results)
        assert any(r.ok for r in results)

    def test_close_is_idempotent(self, rig: Rig) -> None:
        rig.device.close()
        rig.device.close()
        assert rig.device.status().status in (Status.DISCONNECTED, Status.NOT_READY)
