"""Image decoding: every bad file is a specific error value, never an exception."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from edge.biometrics.face import FaceError, imageio
from tests.faces.conftest import photo


def _png(arr: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def test_jpeg_decodes_to_bgr():
    img = imageio.load(photo("a1"))
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape[2] == 3


def test_truncated_jpeg_is_unreadable():
    data = (photo("a1")).read_bytes()
    res = imageio.decode(data[: len(data) // 2])
    assert isinstance(res, imageio.ImageLoadError) and res.error is FaceError.IMAGE_UNREADABLE


def test_png_alpha_composited_over_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255            # red, fully transparent except one pixel
    rgba[0, 0, 3] = 255
    bgr = imageio.decode(_png(rgba, "RGBA"))
    assert isinstance(bgr, np.ndarray)
    assert bgr[0, 0].tolist() == [0, 0, 255]
    assert bgr[1, 1].tolist() == [255, 255, 255]


def test_sixteen_bit_grey_png():
    arr = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    bgr = imageio.decode(buf.getvalue())
    assert isinstance(bgr, np.ndarray) and bgr.shape == (4, 4, 3) and bgr.max() > 200


def test_too_many_pixels_is_refused_before_decoding():
    big = _png(np.zeros((3000, 3000), np.uint8), "L")
    res = imageio.decode(big, max_pixels=1_000_000)
    assert isinstance(res, imageio.ImageLoadError) and res.error is FaceError.IMAGE_TOO_LARGE


def test_missing_file(tmp_path):
    res = imageio.load(tmp_path / "nope.jpg")
    assert isinstance(res, imageio.ImageLoadError) and res.error is FaceError.IMAGE_UNREADABLE


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data):
    res = imageio.decode(data)
    assert isinstance(res, np.ndarray | imageio.ImageLoadError)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4000))
def test_any_truncation_of_a_png_never_raises(cut):
    data = _png(np.full((40, 40, 3), 120, np.uint8), "RGB")
    res = imageio.decode(data[:cut])
    assert isinstance(res, np.ndarray | imageio.ImageLoadError)


def test_twenty_megapixel_jpeg_decodes():
    import cv2

    big = np.full((3648, 5472, 3), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    img = imageio.decode(buf.tobytes())
    assert isinstance(img, np.ndarray) and img.shape == (3648, 5472, 3)
