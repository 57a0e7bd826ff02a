"""The OCR-B character recogniser: a small multilayer perceptron over normalised cell pixels, run with numpy.

Trained here by `scripts/train_ocrb.py` (scikit-learn's MLPClassifier on glyphs rendered from Debian's
fonts-ocr-b under camera damage); its weights ship as `ocrb_model.npz` beside this module and are
pinned by SHA-256 (`MODEL_SHA256`) with their recipe inside the file. scikit-learn is needed to
train only: reading is two matrix products and a softmax, ~1 ms for a whole TD3 band.

Per character the recogniser gives its best class, that class's probability, and the runner-up with
its probability: a close runner-up is what makes a field uncertain (edge.documents.opinions).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).with_name("ocrb_model.npz")
MODEL_SHA256 = "471338cc76cd5b112967f2701f26607b9834ec93516928f021eeeb9f113aba9e"


class ModelMissing(RuntimeError):
    """The shipped weights are absent or do not match their pinned checksum."""


@dataclass(frozen=True)
class Reading:
    """One character's reading: best, its probability, runner-up, its probability."""

    char: str
    p: float
    alt: str
    p_alt: float

    @property
    def margin(self) -> float:
        return self.p - self.p_alt


@dataclass(frozen=True)
class Model:
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    classes: str
    recipe: dict

    def probabilities(self, cells: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities for (n, H, W) float32 cells of ink 0-1."""
        x = features(cells)
        for i, (w, b) in enumerate(self.layers):
            # einsum without BLAS: for matrices this small, OpenBLAS's threads cost more (tens of ms of
            # waiting on a busy 2-core machine) than the ~1 ms of arithmetic
            x = np.einsum("ij,jk->ik", x, w, optimize=False) + b
            if i < len(self.layers) - 1:
                np.maximum(x, 0, out=x)
        x -= x.max(axis=1, keepdims=True)
        np.exp(x, out=x)
        return x / x.sum(axis=1, keepdims=True)

    def read(self, cells: np.ndarray) -> list[Reading]:
        p = self.probabilities(cells)
        order = np.argsort(-p, axis=1)[:, :2]
        return [Reading(self.classes[i], float(p[r, i]), self.classes[j], float(p[r, j]))
                for r, (i, j) in enumerate(order.tolist())]


def features(cells: np.ndarray) -> np.ndarray:
    """Flattened cells, each scaled so its strongest ink is 1 (print darkness and light vary, shape does not)."""
    x = cells.reshape(len(cells), -1).astype(np.float32)
    top = x.max(axis=1, keepdims=True)
    return x / np.maximum(top, 0.05)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(path: Path, layers: list[tuple[np.ndarray, np.ndarray]], classes: str, recipe: dict) -> None:
    arrays = {f"w{i}": w.astype(np.float32) for i, (w, _) in enumerate(layers)}
    arrays.update({f"b{i}": b.astype(np.float32) for i, (_, b) in enumerate(layers)})
    np.savez_compressed(path, classes=np.array(classes), recipe=np.array(json.dumps(recipe, sort_keys=True)), **arrays)


def load_model(path: Path, sha256: str | None = None) -> Model:
    """The weights at `path`; with `sha256`, refused unless the file matches it."""
    if not path.exists():
        raise ModelMissing(f"{path.name} is missing (rebuild: python scripts/train_ocrb.py)")
    if sha256 is not None and file_sha256(path) != sha256:
        raise ModelMissing(f"{path.name} does not match its pinned SHA-256 (rebuild: python scripts/train_ocrb.py)")
    with np.load(path, allow_pickle=False) as z:
        n = sum(1 for k in z.files if k.startswith("w"))
        layers = tuple((z[f"w{i}"], z[f"b{i}"]) for i in range(n))
        return Model(layers, str(z["classes"]), json.loads(str(z["recipe"])))


@functools.lru_cache(maxsize=1)
def shipped_model() -> Model:
    """The packaged recogniser, checked against its pinned checksum (loaded once per process)."""
    return load_model(MODEL_PATH, MODEL_SHA256)
