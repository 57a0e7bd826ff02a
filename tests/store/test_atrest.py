"""The at-rest key for queued photos and prints: sealed blobs open only with this key and this transaction."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge.store.atrest import AtRestError, AtRestKey

SAMPLES = {"face_live.jpg": b"\xff\xd8\xff\xe0 a jpeg", "finger_right_index.png": b"\x89PNG\r\n a png"}


def test_samples_round_trip_and_are_not_in_clear(tmp_path: Path) -> None:
    key = AtRestKey.load_or_create(tmp_path / "k")
    blob = key.seal_samples(SAMPLES, "ACDE-FGHJ")
    assert b"a jpeg" not in blob and b"PNG" not in blob
    assert key.open_samples(blob, "ACDE-FGHJ") == SAMPLES
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert AtRestKey.load_or_create(tmp_path / "k").open_samples(blob, "ACDE-FGHJ") == SAMPLES  # the same key


def test_another_transaction_another_key_or_a_flipped_bit_do_not_open(tmp_path: Path) -> None:
    key = AtRestKey.load_or_create(tmp_path / "k")
    blob = key.seal_samples(SAMPLES, "ACDE-FGHJ")
    with pytest.raises(AtRestError, match="another transaction"):
        key.open_samples(blob, "KLMN-PQRT")
    with pytest.raises(AtRestError):
        AtRestKey.load_or_create(tmp_path / "other").open_samples(blob, "ACDE-FGHJ")
    flipped = bytes([blob[0]]) + bytes([blob[1] ^ 1]) + blob[2:]
    with pytest.raises(AtRestError):
        key.open_samples(flipped, "ACDE-FGHJ")
    with pytest.raises(AtRestError, match="not a set of named images"):
        key.open_samples(key.seal(b"[1, 2]", "ACDE-FGHJ"), "ACDE-FGHJ")
    (tmp_path / "short").write_bytes(b"x" * 5)
    with pytest.raises(AtRestError, match="32 bytes"):
        AtRestKey.load_or_create(tmp_path / "short")


def test_processes_starting_together_end_with_one_key(tmp_path: Path) -> None:
    """Station and UI may create the key at the same moment: every process must use the one that stays."""
    code = ("import sys; from pathlib import Path; from edge.store.atrest import AtRestKey; "
            "k = AtRestKey.load_or_create(Path(sys.argv[1])); "
            "sys.stdout.buffer.write(k.seal(b'same', 'c'))")
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "k")], cwd=root, stdout=subprocess.PIPE)
             for _ in range(6)]
    blobs = [p.communicate(timeout=60)[0] for p in procs]
    key = AtRestKey.load_or_create(tmp_path / "k")
    assert all(key.open(b, "c") == b"same" for b in blobs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]      # no partial files left behind
