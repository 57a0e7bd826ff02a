"""Turn bytes or a file into a BGR uint8 array, or a FaceError: truncated files, alpha and bombs included.

Pillow decodes (it reports truncation, where OpenCV would quietly grey-fill the missing rows); alpha
is composited over white, as a printed portrait would be; 16-bit and greyscale become 8-bit BGR.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from drivers import safe_image
from edge.biometrics.face.errors import FaceError

MAX_PIXELS = 50_000_000          # a 20 MP photo is fine; a decompression bomb is not


@dataclass(frozen=True)
class ImageLoadError:
    error: FaceError
    detail: str


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray | ImageLoadError:
    try:
        safe_image.check(data, max_pixels)
    except safe_image.ImageRejected as exc:
        kind = FaceError.IMAGE_TOO_LARGE if "larger than" in str(exc) else FaceError.IMAGE_UNREADABLE
        return ImageLoadError(kind, str(exc))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                return ImageLoadError(FaceError.IMAGE_TOO_LARGE, f"{w}x{h} is over {max_pixels} pixels")
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return ImageLoadError(FaceError.IMAGE_TOO_LARGE, str(exc))
    except UnidentifiedImageError:
        return ImageLoadError(FaceError.IMAGE_UNREADABLE, "not a recognised image format")
    except (OSError, SyntaxError, ValueError) as exc:  # truncated / corrupt data
        return ImageLoadError(FaceError.IMAGE_UNREADABLE, f"corrupt image: {exc}")
    with contextlib.suppress(Exception):  # a broken EXIF block must not lose the picture
        img = ImageOps.exif_transpose(img)
    return to_bgr(img)


def to_bgr(img: Image.Image) -> np.ndarray | ImageLoadError:
    if img.width == 0 or img.height == 0:
        return ImageLoadError(FaceError.IMAGE_EMPTY, "zero-sized image")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = max(arr.max(), 1.0)
        img = Image.fromarray((arr * (255.0 / (65535.0 if top > 255 else 255.0))).clip(0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    rgb = np.asarray(img.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def load(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray | ImageLoadError:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ImageLoadError(FaceError.IMAGE_UNREADABLE, f"{path}: {exc.strerror or exc}")
    return decode(data, max_pixels)


def check_array(image: object) -> np.ndarray | ImageLoadError:
    """Accept what a camera gives (HxW grey, HxWx3 BGR, HxWx4 BGRA) as a BGR uint8 array."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        return ImageLoadError(FaceError.IMAGE_EMPTY, "expected a non-empty HxW or HxWxC array")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        return ImageLoadError(FaceError.IMAGE_EMPTY, f"unsupported channel count {image.shape[2]}")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        return ImageLoadError(FaceError.IMAGE_TOO_LARGE, f"{image.shape[1]}x{image.shape[0]}")
    arr = image
    if arr.dtype != np.uint8:
        arr = np.clip(arr.astype(np.float64) / (257.0 if arr.dtype == np.uint16 else 1.0), 0, 255)
        arr = arr.astype(np.uint8)
    if arr.ndim == 2 or arr.shape[2] == 1:
        arr = np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr)
