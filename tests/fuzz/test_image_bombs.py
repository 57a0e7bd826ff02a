"""Image bombs: sizes come from the header and are refused before any decoder allocates (issue 19 item 4)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers import safe_image
from drivers.safe_image import ImageRejected
from tests.fuzz import images

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("make", "fmt"), [
    (images.png_claiming, "png"), (images.jpeg_claiming, "jpeg"), (images.bmp_claiming, "bmp"),
    (images.tiff_claiming, "tiff"), (images.pgm_claiming, "pnm"),
])
def test_header_sizes_are_read_without_decoding(make, fmt: str) -> None:
    head = safe_image.read_header(make(1234, 567))
    assert (head.format, head.width, head.height) == (fmt, 1234, 567)
    with pytest.raises(ImageRejected, match="65535x65535 pixels is larger"):
        safe_image.check(make(65535, 65535))


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tiff", ".pgm", ".webp", ".gif", ".jp2"])
def test_real_images_report_their_true_size(ext: str, tmp_path: Path) -> None:
    img = np.random.default_rng(1).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    if ext == ".pgm":
        img = img[:, :, 0]
    if ext == ".gif":
        from PIL import Image
        buf = tmp_path / "x.gif"
        Image.fromarray(img).save(buf)
        data = buf.read_bytes()
    else:
        ok, enc = cv2.imencode(ext, img)
        assert ok
        data = enc.tobytes()
    head = safe_image.read_header(data)
    assert (head.width, head.height) == (53, 37)
    if ext != ".gif":  # OpenCV here has no GIF decoder: Pillow's callers read GIFs
        formats = safe_image.DEFAULT_FORMATS | {"jpeg2000"}
        assert safe_image.decode(data, formats=formats).shape[:2] == (37, 53)
    if ext == ".jp2":  # only where it is asked for
        with pytest.raises(ImageRejected, match="JPEG2000 is not accepted here"):
            safe_image.check(data)


def test_a_jpeg_2000_codestream_declaring_a_huge_portrait_is_refused() -> None:
    import struct

    siz = b"\xff\x4f\xff\x51" + struct.pack(">HHIIIIIIII", 41, 0, 60000, 60000, 0, 0, 60000, 60000, 0, 0)
    with pytest.raises(ImageRejected, match="60000x60000 pixels is larger"):
        safe_image.check(siz, formats=frozenset({"jpeg2000"}))


def test_formats_outside_the_allow_list_are_refused() -> None:
    with pytest.raises(ImageRejected, match="not a decodable image"):
        safe_image.check(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 60000 +X 60000\n")


def _mrz_read(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "mrz", "read", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_tiny_png_claiming_4_gigapixels_is_exit_2_not_a_traceback(tmp_path: Path) -> None:
    f = tmp_path / "claim.png"
    f.write_bytes(images.png_claiming(65535, 65535))
    assert f.stat().st_size < 100
    r = _mrz_read(f)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "cv2.error" not in r.stderr
    assert "65535x65535 pixels is larger" in r.stdout


def test_real_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    """A 20000x20000 PNG (~390 KB) used to be decoded into ~850 MB first: refused now, memory stays small."""
    f = tmp_path / "bomb.png"
    f.write_bytes(images.png_bomb(20000))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = _mrz_read(f)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert r.returncode == 2, r.stderr
    assert "20000x20000 pixels is larger" in r.stdout
    assert peak_mb < 300 or before / 1024 >= 300, f"the refusal itself took {peak_mb:.0f} MB"


def test_decoder_error_is_a_rejection_not_cv2_error() -> None:
    bad = images.png_claiming(100, 100, idat=b"\x01" * 3)  # valid header, garbage rows
    with pytest.raises(ImageRejected):
        safe_image.decode(bad + b"junk")


# Every image decoder call in shipped code, and why it is safe. A new one fails this test until it goes
# through drivers.safe_image (or is added here with its reason).
REVIEWED_DECODERS = {
    "drivers/safe_image.py": "the checked decoder itself",
    "edge/documents/pages.py": "re-decodes the JPEG it has just encoded from its own synthetic page",
    "edge/biometrics/face/imageio.py": "Pillow, after safe_image.check",
    "edge/biometrics/finger/imageio.py": "Pillow, after safe_image.check",
    "edge/chip/face.py": "Pillow's header size checked before decoding; JPEG 2000, which safe_image does not take",
}


def test_every_image_decoder_call_is_a_reviewed_one() -> None:
    import re

    calls = re.compile(r"cv2\.(imread|imdecode|imreadmulti)\(|Image\.open\(")
    found = set()
    for top in ("edge", "drivers", "kiosk_ui", "central"):
        for path in (ROOT / top).rglob("*.py"):
            if calls.search(path.read_text(encoding="utf-8", errors="replace")):
                found.add(path.relative_to(ROOT).as_posix())
    unreviewed = found - set(REVIEWED_DECODERS)
    assert not unreviewed, f"image decoded without drivers.safe_image: {unreviewed}"
