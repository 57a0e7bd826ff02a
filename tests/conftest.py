"""Shared fixtures: a real mosquitto per test, an isolated config with its own store and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.broker import Mosquitto, mosquitto_path

# Hypothesis checks behaviour, not speed (timing goals live in bench/): no per-example deadline, and no
# health check that fails a test because a shared 2-core machine was slow to draw an example.
settings.register_profile("borderpost", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("borderpost")


@pytest.fixture
def broker(tmp_path: Path):
    if mosquitto_path() is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (CI's .ci/run does)")
    m = Mosquitto(tmp_path / "broker").start()
    yield m
    m.stop()


def write_config(tmp_path: Path, broker_url: str = "mqtt://127.0.0.1:1", extra: str = "",
                 devices: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[identity]
post = "post-t"
device = "dev-t"
role = "kiosk"
signing_key = "{tmp_path}/device.pem"

[store]
path = "{tmp_path}/store.db"
min_free_mb = 0

[broker]
url = "{broker_url}"
telemetry_interval_s = 3600
{extra}
{devices}
""")
    return cfg


@pytest.fixture
def config_file(tmp_path: Path):
    return lambda **kw: write_config(tmp_path, **kw)
