"""Rebuild the OCR-B recogniser's weights (edge/documents/ocrb_model.npz) from fonts and damage alone.

Usage: python scripts/train_ocrb.py [--bands 800] [--eval-bands 200] [--epochs 20] [--seed 13] [--out PATH]

Data: MRZ bands rendered with Debian's fonts-ocr-b (OCRB, its bolder OCRBS cut, and a few slanted
OCRBL lines), half real-shaped MRZs from `edge.documents.synth`, half random MRZ-alphabet strings
(every class well represented), at 8-32 px pitch (about 80-320 dpi), then damaged the way cameras and
printers do: blur, motion blur, noise, JPEG, perspective, low light, low resolution, print bleed or thin
print, glare, uneven light. Each band is scaled to the reader's working pitch and cut by
`edge.documents.cells.cut_cells` (the very code the reader uses, without its tracked-pitch fallback, so
every label sits on its glyph), so training sees the reader's cells.
Model: scikit-learn MLPClassifier (one hidden layer, ReLU, adam), weights exported to .npz and run with
numpy at read time (no scikit-learn at run time). Prints held-out accuracy and the file's SHA-256
(pin it as `MODEL_SHA256` in edge/documents/ocrb.py). About 2.5 minutes of CPU on one core.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.documents.cells import cut_cells
from edge.documents.checkdigit import MRZ_ALPHABET
from edge.documents.ocrb import MODEL_PATH, features, file_sha256, save_model
from edge.documents.synth import make_mrz

CLASSES = "".join(sorted(MRZ_ALPHABET))
FONT_DIR = Path("/usr/share/fonts/opentype/ocr-b")
FONTS = (("OCRB.otf", 0.6), ("OCRBS.otf", 0.32), ("OCRBL.otf", 0.08))
DAMAGE = ("blur", "motion", "noise", "jpeg", "perspective", "low_light", "low_res", "bleed", "thin", "glare",
          "uneven")
WORK_PITCH = (24.0, 34.0)   # the reader's band pitch (image.TARGET_PITCH_PX 28, give or take its estimate)


def _text(rng: random.Random) -> list[str]:
    fmt = rng.choice(("TD3", "TD3", "TD1", "TD2", "MRVA", "MRVB"))
    lines = make_mrz(fmt, rng=rng)
    if rng.random() < 0.5:
        pool = CLASSES + "<<<<"
        lines = ["".join(rng.choice(pool) for _ in ln) for ln in lines]
    return lines


def _font(rng: random.Random, size: int) -> ImageFont.FreeTypeFont:
    name = rng.choices([f for f, _ in FONTS], [w for _, w in FONTS])[0]
    return ImageFont.truetype(str(FONT_DIR / name), size)


def render_band(lines: list[str], rng: random.Random) -> np.ndarray:
    """A grey band of MRZ lines at a random pitch, on a tinted, lightly patterned background."""
    pitch = rng.uniform(8, 32)
    probe = ImageFont.truetype(str(FONT_DIR / "OCRB.otf"), 40)
    size = max(6, round(40 * pitch / probe.getlength("0")))
    font = _font(rng, size)
    gap = pitch * (1.69 if len(lines) == 2 else 1.5) * rng.uniform(0.95, 1.05)
    w = int(pitch * (len(lines[0]) + 4))
    h = int(gap * len(lines) + 2.5 * pitch)
    paper = rng.randint(170, 250)
    img = Image.new("L", (w, h), paper)
    draw = ImageDraw.Draw(img)
    for k in range(0, h, max(3, int(pitch / 4))):
        draw.line([(0, k + rng.uniform(-2, 2)), (w, k + rng.uniform(-2, 2))], fill=paper - rng.randint(5, 25))
    ink = rng.randint(0, 70)
    x0, y = 2 * pitch + rng.uniform(-pitch / 3, pitch / 3), pitch
    for ln in lines:
        for i, ch in enumerate(ln):
            draw.text((x0 + i * pitch + rng.uniform(-0.04, 0.04) * pitch, y), ch, fill=ink, font=font)
        y += gap
    return np.asarray(img, dtype=np.uint8).copy(), pitch


def damage(img: np.ndarray, pitch: float, rng: random.Random) -> np.ndarray:
    """Two to four camera/printer damages, each mild enough that a person still reads the band."""
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    kinds = set(rng.sample(DAMAGE, rng.randint(1, 4))) if rng.random() > 0.08 else set()
    h, w = img.shape
    if "bleed" in kinds:
        img = cv2.erode(img, np.ones((2, 2), np.uint8)) if pitch > 14 else cv2.GaussianBlur(img, (3, 3), 0.6)
    elif "thin" in kinds and pitch > 16:
        img = cv2.dilate(img, np.ones((2, 2), np.uint8))
    if "perspective" in kinds:
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        jit = np.float32([[rng.uniform(-0.02, 0.02) * w, rng.uniform(-0.12, 0.12) * h] for _ in range(4)])
        img = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, src + jit), (w, h),
                                  borderMode=cv2.BORDER_REPLICATE)
    if "uneven" in kinds or "low_light" in kinds:
        g = np.linspace(rng.uniform(0.4, 0.8), rng.uniform(0.9, 1.15), w)[None, :]
        if "low_light" in kinds:
            g = g * rng.uniform(0.3, 0.6)
        img = np.clip(img * g, 0, 255).astype(np.uint8)
    if "glare" in kinds:
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.25) * w
        yy, xx = np.mgrid[0:h, 0:w]
        blob = np.exp(-((xx - cx) ** 2 + ((yy - cy) * 2) ** 2) / (2 * r * r)) * rng.uniform(60, 160)
        img = np.clip(img.astype(np.float32) + blob, 0, 255).astype(np.uint8)
    if "blur" in kinds:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.09 * pitch + 0.5))
    if "motion" in kinds:
        n = max(2, int(rng.uniform(0.1, 0.3) * pitch))
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1
        k = cv2.warpAffine(k, cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(-60, 60), 1), (n, n))
        img = cv2.filter2D(img, -1, k / max(k.sum(), 1e-3))
    if "low_res" in kinds and pitch > 12:
        f = rng.uniform(10, 14) / pitch
        small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        img, pitch = small, pitch * f
    if "noise" in kinds:
        img = np.clip(img + nprng.normal(0, rng.uniform(4, 16), img.shape), 0, 255).astype(np.uint8)
    if "jpeg" in kinds:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(20, 70)])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img
    f = rng.uniform(*WORK_PITCH) / pitch
    return cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)


def make_set(n_bands: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of the cells of `n_bands` damaged bands; bands the cutter cannot cut are skipped."""
    rng = random.Random(seed)
    xs, ys = [], []
    for _ in range(n_bands):
        lines = _text(rng)
        img, pitch = render_band(lines, rng)
        img = damage(img, pitch, rng)
        cells = cut_cells(img, len(lines), len(lines[0]), track=False)   # only cells whose labels are sure
        if cells is None:
            continue
        xs.append(features(cells.pixels))
        ys.extend(CLASSES.index(c) for c in "".join(lines))
    return np.concatenate(xs), np.array(ys)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bands", type=int, default=800)
    ap.add_argument("--eval-bands", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args()
    from sklearn.neural_network import MLPClassifier

    t0 = time.perf_counter()
    x, y = make_set(args.bands, args.seed)
    xe, ye = make_set(args.eval_bands, args.seed + 1000)
    print(f"{len(y)} training cells, {len(ye)} held-out cells ({time.perf_counter() - t0:.0f} s)")
    clf = MLPClassifier(hidden_layer_sizes=(args.hidden,), alpha=1e-4, batch_size=256, learning_rate_init=2e-3,
                        max_iter=args.epochs, random_state=args.seed, early_stopping=False, tol=1e-5)
    clf.fit(x, y)
    accuracy = float((clf.predict(xe) == ye).mean())
    recipe = {"seed": args.seed, "bands": args.bands, "eval_bands": args.eval_bands, "hidden": args.hidden,
              "epochs": args.epochs, "train_cells": len(y), "eval_cells": len(ye),
              "heldout_accuracy": round(accuracy, 5), "fonts": [f for f, _ in FONTS], "damage": list(DAMAGE)}
    layers = list(zip(clf.coefs_, clf.intercepts_, strict=True))
    save_model(args.out, layers, "".join(CLASSES[i] for i in clf.classes_), recipe)
    print(f"held-out character accuracy {accuracy:.4f}; {args.out} sha256 {file_sha256(args.out)} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
