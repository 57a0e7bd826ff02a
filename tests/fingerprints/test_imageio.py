"""Image files to grey arrays: formats, depths, alpha, and precise errors for everything else."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.biometrics.finger import InvalidImage, assess
from edge.biometrics.finger.imageio import decode, load
from tests.fingerprints.conftest import REAL


def _png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def test_rgba_fixture_loads_as_grey():
    img = load(REAL[0])
    assert img.ndim == 2 and img.dtype == np.uint8 and img.shape == (500, 400)


def test_sixteen_bit_png_is_scaled_to_eight_bits(master):
    wide = master.astype(np.uint16) * 257
    img = decode(_png(wide))
    assert img.dtype == np.uint8
    assert np.abs(img.astype(int) - master).max() <= 1
    assert assess(img).acceptable


def test_transparent_background_becomes_white(master):
    rgba = np.dstack([master, master, master, np.zeros_like(master)])
    assert decode(_png(rgba)).min() == 255


@pytest.mark.parametrize("data,reason", [
    (b"", "unreadable"),
    (b"not an image at all", "unreadable"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "unreadable"),
])
def test_bad_bytes(data, reason):
    with pytest.raises(InvalidImage) as exc:
        decode(data)
    assert exc.value.reason == reason


def test_truncated_png_is_unreadable(master):
    data = _png(master)
    with pytest.raises(InvalidImage) as exc:
        decode(data[: len(data) // 2])
    assert exc.value.reason == "unreadable"


def test_tiny_and_huge_images_are_refused():
    with pytest.raises(InvalidImage) as exc:
        decode(_png(np.zeros((20, 20), np.uint8)))
    assert exc.value.reason == "wrong-size"
    buf = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buf, "PNG")
    with pytest.raises(InvalidImage) as exc:
        decode(buf.getvalue())
    assert exc.value.reason == "wrong-size"


def test_missing_file(tmp_path: Path):
    with pytest.raises(InvalidImage) as exc:
        load(tmp_path / "none.png")
    assert exc.value.reason == "not-found"
    with pytest.raises(InvalidImage) as exc:
        load(tmp_path)
    assert exc.value.reason == "unreadable"
