"""`borderpost central serve` and posts as real processes, for the acceptance tests and the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def borderpost(*args: str, stdin: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], input=stdin, capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, check=False)


class Serve:
    """One ingest process; `kill()` is kill -9, `start()` again resumes the same MQTT session (same client id)."""

    def __init__(self, directory: Path, db_url: str, broker_url: str, *extra: str,
                 client_id: str = "central-ingest-1") -> None:
        self.directory, self.db_url, self.broker_url, self.extra = directory, db_url, broker_url, extra
        self.client_id = client_id
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.directory / f"{self.client_id}.{self.starts}.log"

    def start(self, wait: float = 30.0) -> Serve:
        self.starts += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge", "-v", "central", "serve", "--db", self.db_url, "--broker",
                 self.broker_url, "--client-id", self.client_id, *self.extra],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if "central ingest ready" in self.log.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"central serve exited: {self.log.read_text()[-800:]}")
            time.sleep(0.05)
        raise RuntimeError(f"central serve not ready: {self.log.read_text()[-800:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def post_config(directory: Path, post: str, broker_url: str, device: str = "kiosk-1",
                command_key: Path | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    keys = f'[keys]\nagency_command_public_key = "{command_key}"\n' if command_key else ""
    path = directory / "config.toml"
    path.write_text(f"""
[identity]
post = "{post}"
device = "{device}"
role = "kiosk"
signing_key = "{directory}/device.pem"

{keys}
[store]
path = "{directory}/store.db"
min_free_mb = 0

[broker]
url = "{broker_url}"
telemetry_interval_s = 2

[devices.mrz]
backend = "mrz_serial"
simulated = true
port = "simulated"
profile = "cr"
""")
    return path


def enrol_post(config: Path, db_url: str) -> str:
    shown = borderpost("identity", "show", "--json", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    done = borderpost("central", "enroll", "--db", db_url, "-", stdin=shown.stdout)
    assert done.returncode == 0, done.stderr
    return done.stdout
