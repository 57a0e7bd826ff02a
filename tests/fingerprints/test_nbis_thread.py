"""NBIS on one thread of its own, and the memory it holds unused handed back without changing a result."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.biometrics.finger import nbis_memory, nfiq2

ROOT = Path(__file__).resolve().parents[2]

# In a fresh process: NFIQ 2, templates and Bozorth3 on the afis prints, with or without the hand-back,
# and how much anonymous memory the process gained from the first call to the last.
_PROBE = """
import hashlib, json, sys
import cv2
from edge.biometrics.finger import match, nfiq2
from tests.fingerprints.conftest import REAL

def anon():
    return next(int(l.split()[1]) for l in open("/proc/self/smaps_rollup") if l.startswith("Pss_Anon:"))

nfiq2.on_nbis_thread = nfiq2._NbisThread(hand_back=sys.argv[1] == "1").run
prints = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in REAL]
before = anon()
scores = [nfiq2.assess(p).score for p in prints]
templates = [match.template(p) for p in prints]
pairs = [match.verify(a, b).score for a in templates for b in templates]
print(json.dumps({"scores": scores, "templates": [hashlib.sha256(t).hexdigest() for t in templates],
                  "pairs": pairs, "anon_kib": anon() - before}))
"""


def _probe(hand_back: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, "1" if hand_back else "0"], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_every_caller_is_served_by_the_one_nbis_thread():
    callers, served = [], []

    def call() -> None:
        callers.append(threading.get_ident())
        served.append(nfiq2.on_nbis_thread(lambda extractor: threading.get_ident()))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    served.append(nfiq2.on_nbis_thread(lambda extractor: threading.get_ident()))
    assert len(set(served)) == 1 and not set(served) & {*callers, threading.get_ident()}


def test_an_error_on_the_nbis_thread_reaches_the_caller():
    try:
        nfiq2.on_nbis_thread(lambda extractor: nfiq2.extract(extractor(True), b"not a png"))
    except nfiq2.Nfiq2Failed as exc:
        assert "refused" in str(exc)
    else:
        raise AssertionError("NBIS accepted bytes that are no image")


def test_handing_back_changes_no_result_and_frees_the_unused_memory():
    """The same scores, templates and comparisons; at least 40 MB of anonymous memory less (48 MB of TLS)."""
    kept, handed = _probe(False), _probe(True)
    assert {k: v for k, v in handed.items() if k != "anon_kib"} == {k: v for k, v in kept.items() if k != "anon_kib"}
    assert kept["anon_kib"] - handed["anon_kib"] >= 40 * 1024, (kept["anon_kib"], handed["anon_kib"])


def _naive_runs(pages: np.ndarray) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i, row in enumerate(pages):
        if row.any():
            continue
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


@given(st.lists(st.booleans(), max_size=64))
def test_zero_page_runs_are_exactly_the_all_zero_rows(nonzero):
    pages = np.zeros((len(nonzero), 4), np.uint64)
    pages[np.array(nonzero, bool), 2] = 7
    assert nbis_memory.zero_page_runs(pages) == _naive_runs(pages)


@given(st.integers(0, 1 << 40), st.integers(0, 1 << 24))
def test_inner_pages_stay_inside_the_range(start, size):
    first, count = nbis_memory.inner_pages(start, size, 4096)
    assert first % 4096 == 0 and count >= 0
    if count:
        assert start <= first and first + count * 4096 <= start + size
    assert count >= size // 4096 - 1        # at most one page lost at each end
