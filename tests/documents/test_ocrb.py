"""The OCR-B recogniser: shipped weights pinned, cells cut right, and the training script reproduces them."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.documents.cells import CELL_H, CELL_W, cut_cells
from edge.documents.image import locate_band
from edge.documents.ocrb import MODEL_PATH, MODEL_SHA256, ModelMissing, file_sha256, load_model, shipped_model
from edge.documents.pages import make_page

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 0.01   # held-out character accuracy: a rebuild or re-evaluation must land within 1 point


def _train_module():
    spec = importlib.util.spec_from_file_location("train_ocrb", ROOT / "scripts" / "train_ocrb.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_ocrb"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_shipped_weights_match_their_pinned_checksum_and_recipe() -> None:
    assert file_sha256(MODEL_PATH) == MODEL_SHA256
    model = shipped_model()
    assert sorted(model.classes) == sorted("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
    assert model.recipe["heldout_accuracy"] > 0.98
    assert MODEL_PATH.stat().st_size < 1_000_000


def test_weights_that_do_not_match_the_pin_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "m.npz"
    bad.write_bytes(MODEL_PATH.read_bytes() + b"\0")
    with pytest.raises(ModelMissing, match="SHA-256"):
        load_model(bad, MODEL_SHA256)
    with pytest.raises(ModelMissing, match="missing"):
        load_model(tmp_path / "absent.npz", MODEL_SHA256)


def test_cells_of_a_generated_page_read_back_as_printed() -> None:
    page = make_page(random.Random(11), fmt="TD1", distortion="clean")
    band = locate_band(cv2.cvtColor(page.image, cv2.COLOR_BGR2GRAY))
    cells = cut_cells(band.image, band.lines)
    assert cells is not None and (cells.lines, cells.length) == (3, 30)
    assert cells.pixels.shape == (90, CELL_H, CELL_W)
    readings = shipped_model().read(cells.pixels)
    assert "".join(r.char for r in readings) == "".join(page.lines)
    assert min(r.p for r in readings) > 0.5 and all(r.alt != r.char for r in readings)


def test_cutting_refuses_what_is_not_a_band() -> None:
    assert cut_cells(np.full((60, 600), 200, np.uint8), 2) is None
    assert cut_cells(np.zeros((4, 4), np.uint8), 2) is None
    assert cut_cells(np.full((60, 600), 200, np.uint8), 5) is None


def test_shipped_accuracy_is_reproduced_on_the_recipes_held_out_data() -> None:
    """The training script's data pipeline, re-run with the recipe's seed, gives the recorded accuracy."""
    train = _train_module()
    model = shipped_model()
    recipe = model.recipe
    x, y = train.make_set(60, recipe["seed"] + 1000)   # the first 60 bands of the recipe's held-out set
    pred = model.probabilities(x.reshape(-1, CELL_H, CELL_W)).argmax(axis=1)
    accuracy = float((np.array([train.CLASSES.index(model.classes[i]) for i in pred]) == y).mean())
    assert accuracy >= recipe["heldout_accuracy"] - TOLERANCE


@pytest.mark.slow
def test_a_reduced_training_run_reaches_the_stated_accuracy(tmp_path: Path) -> None:
    """A small rebuild (150 bands, 12 epochs: ~1 minute) reaches within 3 points of the shipped model's accuracy."""
    train = _train_module()
    out = tmp_path / "m.npz"
    argv = sys.argv
    sys.argv = ["train_ocrb", "--bands", "150", "--eval-bands", "40", "--epochs", "12", "--out", str(out)]
    try:
        assert train.main() == 0
    finally:
        sys.argv = argv
    rebuilt = load_model(out)
    assert rebuilt.recipe["heldout_accuracy"] >= shipped_model().recipe["heldout_accuracy"] - 0.03
