"""`borderpost events verify`: whatever the file holds, a verdict per event or a one-line error, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.events.test_envelope import KEY, build

ROOT = Path(__file__).resolve().parents[2]


def verify(tmp_path: Path, data: bytes) -> subprocess.CompletedProcess:
    key = tmp_path / "dev.pub.pem"
    key.write_bytes(KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    f = tmp_path / "events.jsonl"
    f.write_bytes(data)
    return subprocess.run([sys.executable, "-m", "edge", "events", "verify", str(f), "--key", str(key)],
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
