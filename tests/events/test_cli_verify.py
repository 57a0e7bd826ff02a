"""`borderpost events verify`: whatever the file holds, a verdict per event or a one-line error, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.events.test_envelope import KEY, build

ROOT = Path(__file__).resolve().parents[2]


def verify(tmp_path: Path, data: bytes, *extra: str) -> subprocess.CompletedProcess:
    key = tmp_path / "dev.pub.pem"
    key.write_bytes(KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    f = tmp_path / "events.jsonl"
    f.write_bytes(data)
    return subprocess.run([sys.executable, "-m", "edge", "events", "verify", str(f), "--key", str(key), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_deeply_nested_file_is_a_one_line_error(tmp_path):
    out = verify(tmp_path, b"[" * 5000 + b"]" * 5000)
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_forged_lines_get_verdicts_and_exit_1(tmp_path):
    good = json.dumps(build(1)).encode()
    forged = build(2)
    forged["sequence"] = float("inf")
    out = verify(tmp_path, good + b"\n" + json.dumps(forged).encode() + b"\n")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    verdicts = [json.loads(line) for line in out.stdout.splitlines()]
    assert [v["ok"] for v in verdicts] == [True, False]


def test_a_device_key_does_not_vouch_for_another_devices_events(tmp_path):
    """The events are validly signed by p1/d1's key; checked as post p1 device d2's, they are refused."""
    data = json.dumps(build(1)).encode() + b"\n" + json.dumps(build(2)).encode() + b"\n"
    assert verify(tmp_path, data, "--device", "p1/d1").returncode == 0
    out = verify(tmp_path, data, "--device", "p1/d2")
    verdicts = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1 and [v["ok"] for v in verdicts] == [False, False]
    assert verdicts[0]["reason"] == "from source '/borderpost/p1/d1', not '/borderpost/p1/d2'"
    bad = verify(tmp_path, data, "--device", "p1")
    assert bad.returncode == 2 and "expected POST/DEVICE" in bad.stderr and "Traceback" not in bad.stderr
