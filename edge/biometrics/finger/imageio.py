"""Read a fingerprint image file into a 2-D uint8 array, or say precisely why not (no tracebacks)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from drivers import safe_image
from edge.biometrics.finger.quality import InvalidImage, to_gray

MAX_PIXELS = 4_000_000          # a 500 ppi ten-print slap is ~1600x1500; anything far bigger is not a print


def decode(data: bytes) -> np.ndarray:
    """Bytes of a PNG/BMP/TIFF/JPEG/PGM (8 or 16 bit, grey or colour) to grey uint8; raises InvalidImage."""
    try:
        safe_image.check(data, MAX_PIXELS)
    except safe_image.ImageRejected as exc:
        raise InvalidImage("wrong-size" if "larger than" in str(exc) else "unreadable", str(exc)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise InvalidImage("wrong-size", f"{img.width}x{img.height} is over {MAX_PIXELS} pixels")
            img.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage("wrong-size", str(exc)) from None
    except UnidentifiedImageError:
        raise InvalidImage("unreadable", "not a recognised image format") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage("unreadable", f"corrupt image: {exc}") from None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        return to_gray((arr / top * 255.0).round().astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return to_gray(np.asarray(img.convert("L"), dtype=np.uint8))


def load(path: str | Path) -> np.ndarray:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InvalidImage("not-found", f"{p}: no such file") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise InvalidImage("unreadable", f"{p}: {type(exc).__name__}") from None
    return decode(data)
