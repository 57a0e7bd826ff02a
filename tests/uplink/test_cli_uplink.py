"""`borderpost uplink` start-up and reload: configuration problems are one-line errors, never a dead uplink."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError
from tests.uplink.helpers import config_text

ROOT = Path(__file__).resolve().parents[2]


def test_missing_credentials_file_exits_2_at_start(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(tmp_path, "mqtt://127.0.0.1:9", broker_extra=f'credentials_file = "{tmp_path}/nope"'))
    out = subprocess.run([sys.executable, "-m", "edge", "uplink", "--config", str(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{tmp_path}/nope" in out.stderr


def test_missing_tls_file_exits_2_at_start(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(tmp_path, "mqtts://127.0.0.1:9", broker_extra=f'ca_file = "{tmp_path}/ca.pem"'))
    out = subprocess.run([sys.executable, "-m", "edge", "uplink", "--config", str(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "ca.pem" in out.stderr


def test_reload_of_a_broken_config_raises_config_error_not_system_exit(tmp_path):
    """The `reload` command runs inside the uplink: a typo in the file must fail the command, not end the process."""
    from edge.cli.uplink import reloader

    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(tmp_path, "mqtt://127.0.0.1:9"))
    reload = reloader(cfg, None, None)
    assert reload().broker.port == 9
    cfg.write_text(cfg.read_text() + "\nbogus = 1\n")
    with pytest.raises(ConfigError, match="bogus: unknown key"):
        reload()
