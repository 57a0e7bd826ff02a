"""Chip read benchmark: open, read and verify DG1 + a ~20 KB DG2 through pcscd and vsmartcard's virtual
reader against the test passport (tests/chip/card), BAC against PACE, short against extended Le.

    python bench/chip.py [--runs 5]

Prints per variant the median seconds of access control, reading and verification, the APDUs and bytes
exchanged, the reader process's own CPU time (the card runs in another process: its pure-Python EC
arithmetic dominates PACE's access time here, not the reader's), and the virtual reader's bare round
trip (a SELECT of a missing file) as the floor each APDU pays. Uses the machine's pcscd when one runs
(with /etc/reader.conf.d/vpcd), else starts its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.backends.chip_pcsc import ChipPcscConfig, PcscChipReader
from edge.chip.access_key import mrz_key
from edge.chip.passive import CscaStore
from edge.chip.reader import read_passport
from tests.chip import pcsc
from tests.chip.card import personalise

VARIANTS = {
    "BAC, extended Le": personalise.Spec(pace=False, chip_auth=False),
    "BAC, short Le": personalise.Spec(pace=False, chip_auth=False, short_le=True),
    "PACE, extended Le": personalise.Spec(pace=True, chip_auth=False),
    "PACE, short Le": personalise.Spec(pace=True, chip_auth=False, short_le=True),
    "BAC + active auth": personalise.Spec(pace=False, chip_auth=False, active_auth=True),
    "PACE + chip auth": personalise.Spec(pace=True, chip_auth=True),
}


def round_trip(session, n: int = 50) -> float:
    t = time.perf_counter()
    for _ in range(n):
        session.transmit(bytes.fromhex("00A4020C02FFFF"))
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    why = pcsc.missing()
    if why:
        sys.exit(f"bench chip: {why}")
    work = Path(tempfile.mkdtemp(prefix="bench-chip-"))
    service = pcsc.start(work)
    pki = personalise.make_pki()
    store = CscaStore([pki.csca])
    device = PcscChipReader(ChipPcscConfig(reader=service.reader))
    device.open()
    print(f"reader: {service.reader} (pcscd {'started here' if service.process else 'of the machine'}), "
          f"{args.runs} runs per variant, medians")
    print(f"{'variant':20} {'access s':>9} {'read s':>8} {'verify s':>9} {'total s':>8} {'APDUs':>6} "
          f"{'bytes':>7} {'DG2 B':>6} {'reader CPU s':>12} valid")
    floor = None
    try:
        for i, (name, spec) in enumerate(VARIANTS.items()):
            card = pcsc.Card(personalise.issue(spec, pki, work / f"card{i}"), service)
            dg2 = len((card.directory / "files" / "0102.bin").read_bytes())
            rows, cpus = [], []
            try:
                for _ in range(args.runs):
                    with device.session(timeout=2) as s:
                        if floor is None:
                            floor = round_trip(s)
                        cpu = time.process_time()
                        r = read_passport(s, mrz_key(spec.mrz), store, atr=s.atr)
                        cpus.append(time.process_time() - cpu)
                    rows.append(r)
            finally:
                card.remove()
            med = {k: statistics.median(r.seconds.get(k, float("nan")) for r in rows)
                   for k in ("access", "read", "verify")}
            print(f"{name:20} {med['access']:9.3f} {med['read']:8.3f} {med['verify']:9.3f} "
                  f"{sum(med.values()):8.3f} {rows[0].apdus:6d} {rows[0].bytes_exchanged:7d} {dg2:6d} "
                  f"{statistics.median(cpus):12.3f} {all(r.valid for r in rows)}")
    finally:
        device.close()
        service.stop()
    print(f"virtual reader round trip (one short APDU, pcscd + vpcd + card process): {floor * 1000:.2f} ms")


if __name__ == "__main__":
    main()
