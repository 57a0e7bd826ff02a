"""Fingerprint benchmarks on real prints: NIST NFIQ 2, the fast live-frame score, Bozorth3, the capture path.

    python bench/finger.py                 # figures (below)
    python bench/finger.py --fit           # refit the fast score on the development prints (prints held-out rho)
    python bench/finger.py --fit --write-model   # ... and rewrite edge/biometrics/finger/fq_model.npz
    python bench/finger.py --calibrate     # the Bozorth3 threshold from the development prints' impostor pairs
    python bench/finger.py --measures      # the fast score's inputs against NFIQ 2's native measures, one by one

Prints (read from ../shared, never copied into the project): development `data/fingerprints-real` (27 real
prints: 8 fingers of FVC and nfiq2-rs, 3 impressions each, and 3 single FingerJetFX fingers) and seeded
synthetic fingers; acceptance
`acceptance/fingerprints-real` (62 prints; only reported, never fitted or calibrated on). Figures:
- NFIQ 2 time per print; the fast score's time and Spearman rho against NFIQ 2 (development:
  leave-one-finger-out from the fit; acceptance: as shipped);
- Bozorth3 false-match and false-non-match rates over all genuine and impostor pairs, time per comparison;
- live loop frames per second with the fast score on the simulated sensors; the four-finger sequence's time.
The fit needs scikit-learn (`pip install scikit-learn`, a developer tool only); the product evaluates the
exported trees with numpy.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.sim import finger_synth as synth  # noqa: E402
from edge.biometrics.finger import match, nfiq2, quality  # noqa: E402
from edge.biometrics.finger import model as fq_model  # noqa: E402

SHARED = ROOT.parent / "shared"
DEV = SHARED / "data" / "fingerprints-real"
ACCEPTANCE = SHARED / "acceptance" / "fingerprints-real"
# The fast score reads NFIQ 2's own native measures (edge/biometrics/finger/measures.py, equal to NFIQ 2's values;
# --measures shows it): NFIQ 2's forest maps these to its score, so trees fitted on them carry over to prints they
# never saw. With the earlier generic statistics (grey levels, our own OCL/FDA/LCS, foreground, anisotropy)
# leave-one-finger-out rho was 0.834 (clean prints 0.612); with these 0.90 (0.75). The minutiae measures use
# our minutiae in place of FingerJetFX's (they agree less: rho about 0.5-0.95, see --measures).
HISTOGRAMS = ("OCL", "FDA", "LCS", "RVUP")
FEATURES = (*(f"{h}_Bin10_{b}" for h in HISTOGRAMS for b in (*range(10), "Mean", "StdDev")),
            "Mu", "MMB", "ImgProcROIArea_Mean", "OrientationMap_ROIFilter_CoherenceRel",
            "OrientationMap_ROIFilter_CoherenceSum", "FingerJetFX_MinutiaeCount",
            "FingerJetFX_MinCount_COMMinRect200x200", "FJFXPos_Mu_MinutiaeQuality_2", "FJFXPos_OCL_MinutiaeQuality_80")
RECIPE = {"max_depth": 3, "n_estimators": 200, "learning_rate": 0.05, "subsample": 0.8, "random_state": 0}
SYNTHETIC_FINGERS = 8


def finger_of(stem: str) -> str:
    """The finger a print file shows: `<set>_<finger>_<impression>`, except FingerJetFX's samples.

    FingerJetFX's samples keep NIST's ten-print naming `<subject>_<finger position><impression type>`
    (`a001_03p`: subject a001, finger position 3 = right middle, plain): `fjfx_a001_03p` and `fjfx_a001_06p`
    are two fingers of one person (06 is the left thumb, and looks it), so every FingerJetFX file is its
    own finger and their pairs are impostor pairs (the hardest kind: same person, other finger).
    """
    if stem.startswith("fjfx_"):
        return stem
    return stem.rsplit("_", 1)[0]


def read_prints(folder: Path) -> list[tuple[str, np.ndarray]]:
    return [(p.stem, quality.to_gray(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))) for p in sorted(folder.glob("*.png"))]


def degradations(m: np.ndarray, seed: int) -> list[tuple[str, np.ndarray]]:
    return [
        ("clean", m), ("blur1.5", synth.blur(m, 1.5)), ("blur2.5", synth.blur(m, 2.5)), ("blur4", synth.blur(m, 4)),
        ("noise25", synth.noise(m, 25, seed)), ("noise60", synth.noise(m, 60, seed)),
        ("noise100", synth.noise(m, 100, seed)), ("light0.5", synth.low_contrast(m, 0.5)),
        ("light0.25", synth.low_contrast(m, 0.25)), ("light0.12", synth.low_contrast(m, 0.12)),
        ("dry0.25", synth.dry(m, 0.25, seed)), ("dry0.5", synth.dry(m, 0.5, seed)),
        ("dry0.75", synth.dry(m, 0.75, seed)), ("wet3", synth.wet(m, 3)), ("wet5", synth.wet(m, 5)),
        ("wet7", synth.wet(m, 7)), ("smudge", synth.smudge(m)), ("partial0.5", synth.partial(m, 0.5)),
        ("partial0.3", synth.partial(m, 0.3)), ("partial0.15", synth.partial(m, 0.15)),
        ("blurnoise", synth.noise(synth.blur(m, 2), 30, seed)),
        ("drylight", synth.low_contrast(synth.dry(m, 0.4, seed), 0.5)),
    ]


def variations(m: np.ndarray, seed: int) -> list[tuple[str, np.ndarray]]:
    """Clean prints as other sensors and placements give them: scale (ppi, finger size), rotation, a smaller
    window, tone curves, mild blur, noise and light. Without them the trees learn the heavy degradations and
    rank clean prints poorly (leave-one-finger-out rho on the clean development prints 0.600 -> 0.631)."""
    h, w = m.shape
    out = []
    for s in (0.7, 0.8, 0.9, 1.12, 1.25, 1.4):
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        out.append((f"scale{s}", cv2.resize(m, None, fx=s, fy=s, interpolation=interp)))
    for a in (-25, -12, 12, 25):
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), a, 1.0)
        out.append((f"rot{a}", cv2.warpAffine(m, rot, (w, h), borderValue=255)))
    for share in (0.75, 0.6):
        ch, cw = int(h * share), int(w * share)
        out.append((f"crop{share}", np.ascontiguousarray(m[(h - ch) // 2:(h - ch) // 2 + ch,
                                                           (w - cw) // 2:(w - cw) // 2 + cw])))
    out.append(("cropoff", np.ascontiguousarray(m[: int(h * 0.7), : int(w * 0.7)])))
    for g in (0.45, 0.6, 1.7, 2.2):
        lut = (255 * ((np.arange(256) / 255.0) ** g)).astype(np.uint8)
        out.append((f"gamma{g}", lut[m]))
    out.append(("clahe", cv2.createCLAHE(2.0, (8, 8)).apply(m)))
    out += [("blur1", synth.blur(m, 1.0)), ("noise12", synth.noise(m, 12, seed)),
            ("light0.7", synth.low_contrast(m, 0.7))]
    return [(n, i) for n, i in out if min(i.shape) >= quality.MIN_SIDE]


def ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):  # average ranks of ties
        sel = x == v
        r[sel] = r[sel].mean()
    return r


def spearman(a, b) -> float:
    return float(np.corrcoef(ranks(np.asarray(a, float)), ranks(np.asarray(b, float)))[0, 1])


def nfiq2_score(img: np.ndarray) -> float:
    try:
        return nfiq2.assess(img).score
    except nfiq2.Nfiq2Failed:   # NFIQ 2 refuses some images (too little fingerprint): that is a 0
        return 0.0


LABELS: dict[str, float] = {}   # NFIQ 2 score by image digest (--labels FILE keeps them between fits)


def nfiq2_label(img: np.ndarray) -> float:
    """NFIQ 2 of a training image, from the label file when this very image was labelled before."""
    key = f"{nfiq2.version()}:{hashlib.sha1(img.tobytes() + str(img.shape).encode()).hexdigest()}"
    if key not in LABELS:
        LABELS[key] = nfiq2_score(img)
    return LABELS[key]


def training_set() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, NFIQ 2 labels, finger names and clean-print flags of the development prints under graded
    degradations and capture variations. Only the development prints and synthetic fingers: the afis
    package's p1 prints in tests/fixtures are two of the acceptance prints, so they are never fitted on."""
    masters = [(finger_of(s), img) for s, img in read_prints(DEV)]
    masters += [(f"synthetic{i}", synth.master(100 + i)) for i in range(SYNTHETIC_FINGERS)]
    x, y, fingers, clean = [], [], [], []
    for k, (finger, m) in enumerate(masters):
        for label, img in degradations(m, k) + variations(m, k):
            c, _ = quality.components(img)
            x.append([c[f] for f in FEATURES])
            y.append(nfiq2_label(img))
            fingers.append(finger)
            clean.append(label == "clean")
        print(f"  labelled {k + 1}/{len(masters)} fingers", end="\r", flush=True)
    print()
    return np.array(x), np.array(y), np.array(fingers), np.array(clean)


def fit(write: bool) -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    if not DEV.is_dir():
        sys.exit(f"--fit needs the development prints in {DEV}")
    x, y, fingers, clean = training_set()
    real = np.array([not f.startswith("synthetic") for f in fingers])
    held = np.zeros(len(y))
    for f in sorted(set(fingers)):  # leave one finger (and all its degradations) out
        te = fingers == f
        held[te] = GradientBoostingRegressor(**RECIPE).fit(x[~te], y[~te]).predict(x[te])
    loo = spearman(held[real], y[real])
    loo_clean = spearman(held[real & clean], y[real & clean])
    print(f"fit: {len(y)} prints, {len(set(fingers))} fingers; leave-one-finger-out rho vs NFIQ 2 on the real "
          f"fingers' prints {loo:.3f}, on their {int((real & clean).sum())} clean prints {loo_clean:.3f}")
    if not write:
        return
    gbr = GradientBoostingRegressor(**RECIPE).fit(x, y)
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    for est in gbr.estimators_[:, 0]:
        t, off = est.tree_, len(feature)
        roots.append(off)
        feature += [int(v) if v >= 0 else -1 for v in t.feature]
        threshold += t.threshold.tolist()
        left += [off + int(v) if v >= 0 else -1 for v in t.children_left]
        right += [off + int(v) if v >= 0 else -1 for v in t.children_right]
        value += t.value[:, 0, 0].tolist()
    meta = {"features": list(FEATURES), "base": float(gbr.init_.constant_[0][0]), "rate": RECIPE["learning_rate"],
            "version": 4, "inputs": "NFIQ 2 native measures (measures.py)", "recipe": RECIPE, "prints": len(y),
            "fingers": len(set(fingers)),
            "synthetic_fingers": SYNTHETIC_FINGERS, "heldout_rho_real": round(loo, 3),
            "heldout_rho_clean_real": round(loo_clean, 3),
            "labels": f"nfiq2 (nbis-python {nfiq2.version()})"}
    np.savez_compressed(fq_model.MODEL_FILE, feature=np.array(feature, np.int16), threshold=np.array(threshold),
                        left=np.array(left, np.int32), right=np.array(right, np.int32), value=np.array(value),
                        roots=np.array(roots, np.int32), meta=np.array(json.dumps(meta)))
    print(f"wrote {fq_model.MODEL_FILE} ({fq_model.MODEL_FILE.stat().st_size} bytes)")


def timed(fn, *args) -> tuple[object, float]:
    t = time.perf_counter()
    v = fn(*args)
    return v, time.perf_counter() - t


def quality_figures(name: str, prints: list[tuple[str, np.ndarray]]) -> None:
    for _, img in prints[:2]:  # warm both up
        quality.assess(img)
        nfiq2_score(img)
    ours, theirs, t_ours, t_theirs = [], [], [], []
    for _, img in prints:
        q, dt = timed(quality.assess, img)
        ours.append(q.score)
        t_ours.append(dt)
        s, dt2 = timed(nfiq2_score, img)
        theirs.append(s)
        t_theirs.append(dt2)
    ms_nfiq2, ms_fast = statistics.median(t_theirs) * 1000, statistics.median(t_ours) * 1000
    print(f"{name} ({len(prints)} prints): NFIQ 2 {min(theirs):.0f}-{max(theirs):.0f}, median {ms_nfiq2:.0f} ms/print; "
          f"fast score median {ms_fast:.1f} ms/print ({ms_nfiq2 / ms_fast:.1f}x faster); "
          f"rho {spearman(ours, theirs):.3f}")


def pair_scores(prints: list[tuple[str, np.ndarray]]) -> tuple[list[int], list[int], list[float]]:
    """Bozorth3 scores of every genuine and every impostor pair, and the time of each comparison."""
    tpl = {s: match.template(img) for s, img in prints}
    gen, imp, times = [], [], []
    for a, b in itertools.combinations(tpl, 2):
        v, dt = timed(match.verify, tpl[a], tpl[b])
        times.append(dt)
        (gen if finger_of(a) == finger_of(b) else imp).append(v.score)
    return gen, imp, times


def calibrate(prints: list[tuple[str, np.ndarray]]) -> int:
    """The smallest threshold at which no development impostor pair matches (FMR <= 1/impostor pairs)."""
    _gen, imp, _ = pair_scores(prints)
    threshold = max(imp) + 1
    print(f"calibration on {len(imp)} development impostor pairs: highest score {max(imp)}, threshold {threshold} "
          f"(stated FMR <= 1/{len(imp)} = {1 / len(imp):.2%})")
    return threshold


def matching_figures(name: str, prints: list[tuple[str, np.ndarray]]) -> None:
    gen, imp, times = pair_scores(prints)
    fnmr = sum(s < match.THRESHOLD for s in gen) / len(gen)
    fmr = sum(s >= match.THRESHOLD for s in imp) / len(imp)
    print(f"{name} Bozorth3 at {match.THRESHOLD}: genuine {len(gen)} pairs, FNMR {fnmr:.3f} "
          f"(accepts {1 - fnmr:.1%}); impostor {len(imp)} pairs, FMR {fmr:.4f} (highest impostor {max(imp)}); "
          f"median {statistics.median(times) * 1000:.2f} ms/comparison")


def capture_figures() -> None:
    from drivers.backends import finger_r30x, finger_uareu4000
    from drivers.sim import finger_r30x as sim_r30x
    from drivers.sim import finger_uareu4000 as sim_uru
    from edge.lane.finger_capture import capture_sequence

    for label, start, cls, cfg in (("U.are.U 4000", sim_uru.start, finger_uareu4000.UareU4000, finger_uareu4000.Config),
                                   ("R30x", sim_r30x.start, finger_r30x.R30xFingerprint, finger_r30x.Config)):
        sim = start(cfg())
        dev = cls(sim.config)
        dev.open()
        try:
            sim.finger_on()
            n, t0 = 0, time.monotonic()
            while time.monotonic() - t0 < 3.0:
                frame = dev.capture(1.0)
                if frame.ok:
                    quality.assess(frame.sample.data)
                    n += 1
            fps = n / (time.monotonic() - t0)
            sim.finger_on(compliant=True)      # a traveller who lifts between fingers when the sequence waits
            seq, dt = timed(capture_sequence, dev, ["right_index", "right_middle", "right_ring", "right_little"], 10.0)
            ok = sum(c.ok for c in seq)
            print(f"simulated {label}: live loop with the fast score {fps:.1f} frames/s; four-finger sequence "
                  f"{dt:.2f} s ({ok}/4 accepted)")
        finally:
            dev.close()
            sim.close()


AGREEMENT_CONDITIONS = ("clean", "blur2.5", "noise60", "light0.25", "dry0.5", "wet5", "partial0.5", "smudge")


def measure_agreement() -> None:
    """Each NFIQ 2 native measure the fast score reads, ours against NFIQ 2's, on the development prints and
    some of their degradations: Spearman rho and the share of images where the two are equal (1e-6)."""
    images = [img for k, (_s, m) in enumerate(read_prints(DEV))
              for label, img in degradations(m, k) if label in AGREEMENT_CONDITIONS]
    ours, theirs = [], []
    for img in images:
        try:
            n = nfiq2.assess(img)
        except nfiq2.Nfiq2Failed:
            continue
        if not n.native:      # NFIQ 2 stopped before measuring (nothing on the glass)
            continue
        c, _ = quality.components(img)
        ours.append(c)
        theirs.append(n.native)
    print(f"NFIQ 2 native measures vs the fast score's ({len(ours)} development images: "
          f"{', '.join(AGREEMENT_CONDITIONS)})")
    for name in sorted(set(theirs[0]) & set(ours[0])):
        a = np.array([o[name] for o in ours])
        b = np.array([t[name] for t in theirs])
        rho = spearman(a, b) if a.std() and b.std() else float("nan")
        equal = np.isclose(a, b, rtol=1e-9, atol=1e-6).mean()
        print(f"  {name:40s} rho {rho:6.3f}  equal {equal:6.1%}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", action="store_true", help="refit the fast score and report held-out agreement")
    ap.add_argument("--write-model", action="store_true", help="with --fit: rewrite the shipped model file")
    ap.add_argument("--labels", type=Path, help="with --fit: a JSON file of NFIQ 2 labels kept between fits")
    ap.add_argument("--calibrate", action="store_true", help="the Bozorth3 threshold from the development prints")
    ap.add_argument("--measures", action="store_true", help="the fast score's inputs against NFIQ 2's, one by one")
    ap.add_argument("--capture", action="store_true", help="only the simulated live loop and four-finger sequence")
    args = ap.parse_args()
    if args.capture:
        capture_figures()
        return 0
    if args.calibrate:
        calibrate(read_prints(DEV))
        return 0
    if args.measures:
        measure_agreement()
        return 0
    if args.fit:
        if args.labels and args.labels.is_file():
            LABELS.update(json.loads(args.labels.read_text()))
        fit(args.write_model)
        if args.labels:
            args.labels.write_text(json.dumps(LABELS))
        fq_model._load.cache_clear()
    print(f"NFIQ 2: nbis-python {nfiq2.version()}; fast score {fq_model.version()} "
          f"(held-out rho at fit {fq_model.describe().get('heldout_rho_real')})")
    for name, folder in (("development", DEV), ("acceptance", ACCEPTANCE)):
        if folder.is_dir():
            prints = read_prints(folder)
            quality_figures(name, prints)
            matching_figures(name, prints)
        else:
            print(f"{name}: {folder} absent (not beside this clone): skipped")
    capture_figures()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
