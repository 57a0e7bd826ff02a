"""The fast score's inputs are NFIQ 2's own native measures: equal to what NIST NFIQ 2 reports for the same image."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.sim import finger_synth as synth
from edge.biometrics.finger import measures, nfiq2

EXACT = [f"{m}_Bin10_{s}" for m in ("OCL", "FDA", "LCS", "RVUP") for s in (*range(10), "Mean", "StdDev")]
EXACT += ["Mu", "MMB"]
# the region of interest is found at half resolution (a fifth of the time): its edge blocks may differ
NEAR = ["ImgProcROIArea_Mean", "OrientationMap_ROIFilter_CoherenceRel", "OrientationMap_ROIFilter_CoherenceSum"]


def _agree(img: np.ndarray) -> list[str]:
    ours, theirs = measures.native(img), nfiq2.assess(img).native
    wrong = [f"{k}: {ours[k]} vs NFIQ 2 {theirs[k]}" for k in EXACT
             if not np.isclose(ours[k], theirs[k], rtol=1e-9, atol=1e-6)]
    return wrong + [f"{k}: {ours[k]} vs NFIQ 2 {theirs[k]}" for k in NEAR
                    if not np.isclose(ours[k], theirs[k], rtol=0.02)]


def test_block_measures_equal_nfiq2_on_real_prints(real):
    """OCL, FDA, LCS and RVU histograms, grey means value for value; the ROI's mean and coherence within 2%."""
    for img in real:
        assert _agree(img) == []


@pytest.mark.parametrize("label", ["clean", "blur2.5", "noise60", "light0.25", "dry0.5", "wet5", "partial0.5"])
def test_block_measures_equal_nfiq2_on_degraded_prints(master, label):
    img = dict(synth_conditions(master))[label]
    assert _agree(img) == []


def synth_conditions(m: np.ndarray) -> list[tuple[str, np.ndarray]]:
    return [("clean", m), ("blur2.5", synth.blur(m, 2.5)), ("noise60", synth.noise(m, 60, 1)),
            ("light0.25", synth.low_contrast(m, 0.25)), ("dry0.5", synth.dry(m, 0.5, 1)), ("wet5", synth.wet(m, 5)),
            ("partial0.5", synth.partial(m, 0.5))]


def test_near_white_frame_is_cropped_as_nfiq2_does():
    img = np.full((200, 300), 255, np.uint8)
    img[40:160, 100:220] = 90
    img[10, :] = 252            # a near-white line stays outside (its mean is over 250)
    assert measures.crop_near_white(img).shape == (120, 120)


def test_minutiae_measures_count_and_judge_the_minutiae(master):
    h, w = master.shape
    xy = np.array([[w // 2, h // 2], [w // 2 + 10, h // 2 + 20], [w // 2 - 10, h // 2 - 20], [w // 2, h // 2 + 170]])
    m = measures.minutiae_measures(master, xy)
    assert m["FingerJetFX_MinutiaeCount"] == 4
    assert m["FingerJetFX_MinCount_COMMinRect200x200"] == 3     # the far one is over 100 px from the centre of mass
    assert m["FJFXPos_Mu_MinutiaeQuality_2"] in (0, 0.25, 0.5, 0.75, 1)
    assert m["FJFXPos_OCL_MinutiaeQuality_80"] in (0, 0.25, 0.5, 0.75, 1)
    assert measures.minutiae_measures(master, np.zeros((0, 2)))["FingerJetFX_MinutiaeCount"] == 0


def test_blank_and_tiny_images_give_empty_histograms():
    for img in (synth.blank(), np.full((100, 100), 128, np.uint8)):
        m = measures.native(img)
        assert all(m[f"OCL_Bin10_{i}"] == 0 for i in range(10)) or m["blocks_fg"] == 0
        assert m["FDA_Bin10_Mean"] == 0 and m["LCS_Bin10_Mean"] == 0
