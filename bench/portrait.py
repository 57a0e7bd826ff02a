"""Benchmark: the portrait from an imaged data page (`edge.documents.portrait`), time and match outcome.

Usage: python bench/portrait.py [--pages 54] [--seed 3]

Each page is rendered by `edge.documents.pages` (TD3/TD2/TD1/MRV-A, the 9 distortion kinds in equal shares)
with one public test photo of a person (../shared/data/faces, read in place) in its photo zone and as its
ghost image. Per page:

- time of `portrait_from_page` (MRZ OCR + check against the document read + face detection + crop);
- genuine: the crop compared (`FaceAnalyzer.verify`) with another photo of the same person must match (the
  photos are ordinary pictures, some with a second face: the largest face is the person, `live_multiple`);
- impostor: the crop compared with one photo of every other person must never match (must be 0);
- other document: the same page checked against another document's MRZ must give no portrait (must be all).

The peer it replaces is "no portrait" (the stub before): 0 travellers compared on a real post.
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2

from edge.documents.pages import DISTORTIONS, make_page
from edge.documents.portrait import portrait_from_page
from edge.documents.synth import make_mrz
from edge.station import document_summary

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"   # beside the clone, never copied in
FORMATS = ("TD3", "TD3", "TD1", "TD2", "MRVA")


def people() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = collections.defaultdict(list)
    for p in sorted(FACES.glob("person*_img*.jpg")):
        out[p.name.split("_")[0]].append(p)
    return dict(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=54)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    if not FACES.is_dir():
        print(f"bench/portrait: no public face set in {FACES} (it lives beside the clone)", file=sys.stderr)
        return 2

    from edge.biometrics.face import FaceAnalyzer, FaceConfig

    analyzer = FaceAnalyzer(FaceConfig())
    rng = random.Random(args.seed)
    folks = people()
    names = sorted(folks)
    images = {p: cv2.imread(str(p)) for ps in folks.values() for p in ps}
    times: list[float] = []
    reasons: collections.Counter[str] = collections.Counter()
    genuine = impostor_pages = impostor_cmp = impostor_hits = other_ok = other_refused = 0
    genuine_scores: list[float] = []
    impostor_max = -1.0
    # warm-up (first tesseract start, first detector call): not counted
    warm = make_page(random.Random(0), fmt="TD3", distortion="clean", portrait=images[folks[names[0]][0]])
    portrait_from_page(warm.image, document_summary("\n".join(warm.lines), "bench"), analyzer)
    for i in range(args.pages):
        person = names[i % len(names)]
        shots = folks[person]
        printed, live = shots[i % len(shots)], shots[(i + 1) % len(shots)]
        kind = DISTORTIONS[i % len(DISTORTIONS)]
        page = make_page(rng, fmt=rng.choice(FORMATS), distortion=kind, portrait=images[printed])
        doc = document_summary("\n".join(page.lines), "bench")
        out = portrait_from_page(page.image, doc, analyzer)
        times.append(out.seconds)
        reasons[out.reason or "portrait"] += 1
        other = document_summary("\n".join(make_mrz("TD3", rng=rng)), "bench")
        refused = portrait_from_page(page.image, other, analyzer)
        other_refused += refused.image is None
        other_ok += refused.reason == "page.other_document"
        if out.image is None:
            continue
        m = analyzer.verify(images[live], out.image, live_multiple="largest")
        genuine += bool(m.match)
        if m.score is not None:
            genuine_scores.append(m.score)
        hit = False
        for someone in names:
            if someone == person:
                continue
            photo = images[folks[someone][i % len(folks[someone])]]
            o = analyzer.verify(photo, out.image, live_multiple="largest")
            impostor_cmp += 1
            if o.score is not None:
                impostor_max = max(impostor_max, o.score)
            if o.match:
                impostor_hits += 1
                hit = True
        impostor_pages += hit

    n = args.pages
    ms = sorted(1000 * t for t in times)
    print(f"pages: {n} (formats {'/'.join(sorted(set(FORMATS)))}, distortions {', '.join(DISTORTIONS)}), "
          f"seed {args.seed}")
    print(f"portrait_from_page: median {statistics.median(ms):.0f} ms, p90 {ms[int(0.9 * (n - 1))]:.0f} ms, "
          f"min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms (one core for OCR, this machine)")
    print(f"portrait found: {reasons['portrait']}/{n}; "
          f"no portrait: {', '.join(f'{k} {v}' for k, v in sorted(reasons.items()) if k != 'portrait') or 'none'}")
    print(f"genuine: {genuine}/{n} pages give a portrait that matches another photo of the same person"
          + (f" (lowest score {min(genuine_scores):.3f}, threshold {analyzer.config.match_threshold})"
             if genuine_scores else ""))
    print(f"impostor: {impostor_hits}/{impostor_cmp} comparisons matched the wrong person, on {impostor_pages} pages "
          f"(must be 0; highest impostor score {impostor_max:.3f})")
    print(f"other document: {other_refused}/{n} pages give no portrait when checked against another MRZ (must be "
          f"all; {other_ok} as page.other_document, the rest page.mrz_unreadable)")
    print(f"peer (no page camera, the stub before): 0/{n} travellers compared")
    return 0 if impostor_hits == 0 and other_refused == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
