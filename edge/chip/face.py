"""DG2's face as pixels: JPEG or JPEG 2000 decoded with Pillow (OpenJPEG), the size checked before decoding.

The lane's face match wants a BGR array; passports store JPEG 2000 as often as JPEG, which OpenCV-based
image checks may refuse. A chip portrait is small (ICAO: about 240x320 to 1000x1300), so anything past
MAX_PIXELS is refused as malformed before a byte is decompressed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from edge.chip.errors import MalformedData
from edge.chip.lds import FaceImage

MAX_PIXELS = 4_000_000


def decode_face(face: FaceImage, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The portrait as an HxWx3 BGR uint8 array; MalformedData when it does not decode or is too large."""
    try:
        with Image.open(io.BytesIO(face.data)) as img:
            w, h = img.size            # read from the header; nothing is decompressed yet
            if w * h > max_pixels or w <= 0 or h <= 0:
                raise MalformedData(f"DG2 image of {w}x{h} pixels is past the {max_pixels}-pixel limit")
            if img.format not in ("JPEG", "JPEG2000"):
                raise MalformedData(f"DG2 image is {img.format}, not JPEG or JPEG 2000")
            rgb = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MalformedData(f"DG2 image does not decode: {type(exc).__name__}") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])
