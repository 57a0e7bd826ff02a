"""Synthetic document data pages with an OCR-B MRZ, and the real-world distortions a camera adds.

For tests and `bench/mrz_read.py` only: the people are invented (`synth.make_mrz`), nothing here is
a real document. The MRZ is set in OCR-B (Debian `fonts-ocr-b`) at the Doc 9303 pitch of 2.54 mm.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edge.documents.synth import make_mrz

OCRB_PATHS = ("/usr/share/fonts/opentype/ocr-b/OCRB.otf", "/usr/share/fonts/truetype/ocr-b/OCRB.ttf")
VIZ_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
PX_PER_MM = 12.0    # ~300 dpi, what document scanners and kiosk cameras deliver
PAGE_MM = {"TD1": (85.6, 54.0), "TD2": (105.0, 74.0), "TD3": (125.0, 88.0), "MRVA": (120.0, 80.0),
           "MRVB": (105.0, 74.0)}
DISTORTIONS = ("clean", "rotate", "blur", "noise", "jpeg", "perspective", "low_contrast", "uneven_light", "combined")
# Harder captures (bench/mrz_read.py): a glare spot, a 150 dpi scan, motion blur, skew up to 15 degrees,
# and a TD1 card photographed at an angle (strong perspective).
HARD_DISTORTIONS = ("glare", "dpi150", "motion_blur", "skew15", "card_angle")


class FontMissing(RuntimeError):
    """OCR-B is not installed (apt-get install fonts-ocr-b)."""


def _font(paths: tuple[str, ...], size: int) -> ImageFont.FreeTypeFont:
    for p in paths:
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    raise FontMissing(f"none of {paths} exists")


def _ocrb_for_pitch(pitch_px: float) -> ImageFont.FreeTypeFont:
    size = 40
    font = _font(OCRB_PATHS, size)
    advance = font.getlength("0")
    return _font(OCRB_PATHS, max(8, round(size * pitch_px / advance)))


@dataclass(frozen=True)
class Page:
    image: np.ndarray          # BGR uint8
    lines: tuple[str, ...]     # the MRZ printed on it (the truth)
    distortion: str


def _cover(image: np.ndarray, width: int, height: int) -> Image.Image:
    """`image` (BGR) scaled to fill width x height, centre-cropped: how a portrait fills the photo zone."""
    h, w = image.shape[:2]
    s = max(width / w, height / h)
    nw, nh = max(width, round(w * s)), max(height, round(h * s))
    big = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return Image.fromarray(cv2.cvtColor(big[y0:y0 + height, x0:x0 + width], cv2.COLOR_BGR2RGB))


def _paste_ghost(img: Image.Image, portrait: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """A small, faded grey copy of the portrait (the 'ghost image' many data pages print beside the text)."""
    ghost = _cover(portrait, box[2] - box[0], box[3] - box[1]).convert("L").convert("RGB")
    region = img.crop(box)
    img.paste(Image.blend(region, ghost, 0.45), box[:2])


def render_page(lines: list[str], rng: random.Random, fmt: str, portrait: np.ndarray | None = None,
                ghost: bool = True) -> np.ndarray:
    """A clean data page (BGR): tinted background with fine guilloche lines, a photo, VIZ text, the MRZ.

    `portrait` (BGR) fills the photo zone instead of the drawn silhouette, and (with `ghost`) appears again
    small and faded at the right edge. It draws nothing from `rng`: the same seed gives the same page and
    MRZ with or without a portrait.
    """
    w_mm, h_mm = PAGE_MM[fmt]
    w, h = int(w_mm * PX_PER_MM), int(h_mm * PX_PER_MM)
    tint = tuple(rng.randint(215, 250) for _ in range(3))
    img = Image.new("RGB", (w, h), tint)
    draw = ImageDraw.Draw(img)
    for k in range(0, h, 6):     # security-print-like wavy lines, light enough not to be text
        phase = rng.random() * 6.28
        pts = [(x, k + 3 * np.sin(x / 23 + phase)) for x in range(0, w, 8)]
        draw.line(pts, fill=tuple(max(0, c - rng.randint(10, 25)) for c in tint), width=1)
    gap_mm = 4.3 if len(lines) == 2 else 3.8
    clear_top = h_mm - 4 - gap_mm * len(lines) - 3          # Doc 9303 keeps the MRZ's clear zone free of print
    photo = (int(6 * PX_PER_MM), int(8 * PX_PER_MM), int(32 * PX_PER_MM), int(min(44.0, clear_top) * PX_PER_MM))
    if portrait is None:
        draw.rectangle(photo, fill=(170, 160, 150))
        draw.ellipse((photo[0] + 20, photo[1] + 15, photo[2] - 20, photo[3] - 40), fill=(120, 100, 90))
    else:
        img.paste(_cover(portrait, photo[2] - photo[0], photo[3] - photo[1]), photo[:2])
        if ghost:
            gw, gh = (photo[2] - photo[0]) * 2 // 5, (photo[3] - photo[1]) * 2 // 5
            gx, gy = w - int(5 * PX_PER_MM) - gw, photo[3] - gh
            _paste_ghost(img, portrait, (gx, gy, gx + gw, gy + gh))
    viz = _font(VIZ_FONT_PATHS, int(2.6 * PX_PER_MM))
    x0 = photo[2] + int(5 * PX_PER_MM)
    for i, label in enumerate(("Surname", "Given names", "Nationality", "Date of birth", "Sex", "Date of expiry")):
        y = photo[1] + i * int(6.2 * PX_PER_MM)
        if y > (clear_top - 3) * PX_PER_MM:
            break
        draw.text((x0, y), f"{label}: {lines[-1][:rng.randint(6, 14)].replace('<', ' ')}", fill=(40, 40, 60), font=viz)
    pitch = 2.54 * PX_PER_MM
    font = _ocrb_for_pitch(pitch)
    line_gap = gap_mm * PX_PER_MM
    y = h - int(4 * PX_PER_MM) - line_gap * len(lines)
    x = (w - pitch * len(lines[0])) / 2
    for ln in lines:
        for i, ch in enumerate(ln):
            draw.text((x + i * pitch, y), ch, fill=(10, 10, 10), font=font)
        y += line_gap
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def distort(page: np.ndarray, kind: str, rng: random.Random) -> np.ndarray:
    """Place the page on a desk and apply one named distortion (or `combined`: several, milder)."""
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    pad = int(0.12 * page.shape[1])
    desk = tuple(int(c) for c in nprng.integers(40, 120, 3))
    img = cv2.copyMakeBorder(page, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=desk)
    if kind in HARD_DISTORTIONS:
        return _hard(img, kind, rng, desk)
    kinds = {kind} if kind != "combined" else set(rng.sample(DISTORTIONS[1:-1], 3))
    if "rotate" in kinds:
        angle = rng.uniform(-10, 10)
        m = cv2.getRotationMatrix2D((img.shape[1] / 2, img.shape[0] / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderValue=desk)
    if "perspective" in kinds:
        hh, ww = img.shape[:2]
        src = np.float32([[0, 0], [ww, 0], [ww, hh], [0, hh]])
        jitter = np.float32([[rng.uniform(-0.05, 0.05) * ww, rng.uniform(-0.05, 0.05) * hh] for _ in range(4)])
        img = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, src + jitter), (ww, hh), borderValue=desk)
    if "uneven_light" in kinds:
        hh, ww = img.shape[:2]
        gx = np.linspace(rng.uniform(0.45, 0.8), rng.uniform(1.0, 1.15), ww)[None, :]
        gy = np.linspace(rng.uniform(0.8, 1.0), rng.uniform(0.9, 1.1), hh)[:, None]
        img = np.clip(img * (gx * gy)[..., None], 0, 255).astype(np.uint8)
    if "low_contrast" in kinds:
        lo, hi = rng.uniform(60, 100), rng.uniform(150, 190)
        img = (lo + img.astype(np.float32) * (hi - lo) / 255).astype(np.uint8)
    if "blur" in kinds:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 1.6))
    if "noise" in kinds:
        img = np.clip(img + nprng.normal(0, rng.uniform(6, 14), img.shape), 0, 255).astype(np.uint8)
    if "jpeg" in kinds or kind == "combined":
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(25, 60)])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img
    return img


def _hard(img: np.ndarray, kind: str, rng: random.Random, desk: tuple[int, ...]) -> np.ndarray:
    hh, ww = img.shape[:2]
    if kind == "skew15":
        angle = rng.choice((-1, 1)) * rng.uniform(10, 15)
        m = cv2.getRotationMatrix2D((ww / 2, hh / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (ww, hh), borderValue=desk)
    elif kind == "card_angle":   # the card tilted away from the camera about a vertical or horizontal axis
        src = np.float32([[0, 0], [ww, 0], [ww, hh], [0, hh]])
        t = rng.uniform(0.06, 0.12)
        if rng.random() < 0.5:
            dst = np.float32([[0, t * hh], [ww, 0], [ww, hh], [0, (1 - t) * hh]])
        else:
            dst = np.float32([[t * ww, 0], [(1 - t) * ww, 0], [ww, hh], [0, hh]])
        dst += np.float32([[rng.uniform(-0.02, 0.02) * ww, rng.uniform(-0.02, 0.02) * hh] for _ in range(4)])
        img = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (ww, hh), borderValue=desk)
        img = cv2.GaussianBlur(img, (0, 0), 0.7)
    elif kind == "glare":
        cx, cy = rng.uniform(0.2, 0.8) * ww, rng.uniform(0.68, 0.88) * hh
        r = rng.uniform(0.06, 0.14) * ww
        yy, xx = np.mgrid[0:hh, 0:ww]
        blob = np.exp(-((xx - cx) ** 2 + ((yy - cy) * 1.6) ** 2) / (2 * r * r)) * rng.uniform(90, 150)
        img = np.clip(img.astype(np.float32) + blob[..., None], 0, 255).astype(np.uint8)
    elif kind == "dpi150":   # 300 dpi page scanned at 150 dpi, then upscaled by the viewer
        small = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        return small
    elif kind == "motion_blur":
        n = rng.randint(5, 9)
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(-90, 90), 1)
        k = cv2.warpAffine(k, rot, (n, n))
        img = cv2.filter2D(img, -1, k / max(float(k.sum()), 1e-3))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(60, 85)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def make_page(rng: random.Random, fmt: str | None = None, distortion: str | None = None,
              portrait: np.ndarray | None = None, lines: list[str] | None = None) -> Page:
    """A distorted page; `lines` prints a given MRZ (e.g. the one a simulated reader presents)."""
    fmt = fmt or rng.choice(("TD3", "TD3", "TD1", "TD2", "MRVA"))
    if distortion == "card_angle":
        fmt = "TD1"
    lines = list(lines) if lines is not None else make_mrz(fmt, rng=rng)
    kind = distortion or rng.choice(DISTORTIONS)
    return Page(distort(render_page(lines, rng, fmt, portrait), kind, rng), tuple(lines), kind)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()
