"""The long fuzzing run: every decoder in tests/fuzz/targets.py, time-boxed, with atheris where it installs.

    python scripts/fuzz.py [--seconds 600] [--target NAME ...] [--engine atheris|hypothesis] [--out DIR]

The time box is shared between the targets; each runs in its own process (atheris, coverage-guided: corpus
in OUT/corpus/NAME seeded with valid inputs, crashing inputs in OUT/crashes/NAME-*; OUT defaults to
artifacts/fuzz), or as batches of hypothesis examples when atheris is missing. Prints inputs tried and
crashes per target; exit 1 on any crash.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _atheris_available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def run_atheris_child(name: str, seconds: int, out: Path) -> None:
    """In the child: instrument, seed the corpus, fuzz until the time box ends (atheris exits the process)."""
    import atheris

    from tests.fuzz.targets import TARGETS

    target = TARGETS[name]
    with atheris.instrument_imports(include=["edge", "drivers", "kiosk_ui"]):
        target.run(b"")                  # imports what the target touches: the project's modules instrumented
        seeds = target.seeds()
    corpus = out / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
    crashes = out / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-print_final_stats=1", "-rss_limit_mb=2048",
                   "-max_len=65536", f"-artifact_prefix={crashes}/{name}-", str(corpus)], target.run)
    atheris.Fuzz()


def run_hypothesis(name: str, seconds: float) -> dict:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.fuzz.targets import TARGETS
    from tests.fuzz.test_fuzz_targets import mutated

    target = TARGETS[name]
    tried, crashes = 0, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        @settings(max_examples=300, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=4096), mutated(target.seeds())))
        def batch(data: bytes) -> None:
            nonlocal tried
            tried += 1
            target.run(data)

        try:
            batch()
        except Exception as exc:  # a finding: report it and go on with the next batch
            crashes.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    return {"target": name, "engine": "hypothesis", "inputs": tried, "crashes": crashes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="the whole run's time box")
    ap.add_argument("--target", action="append", help="only these targets (default: all)")
    ap.add_argument("--engine", choices=["atheris", "hypothesis"], default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "fuzz")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_atheris_child(args.child, int(args.seconds), args.out)
        return 0
    from tests.fuzz.targets import TARGETS

    names = args.target or sorted(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"fuzz: unknown target(s) {', '.join(unknown)}; known: {', '.join(sorted(TARGETS))}", file=sys.stderr)
        return 2
    engine = args.engine or ("atheris" if _atheris_available() else "hypothesis")
    if engine == "atheris" and not _atheris_available():
        print("fuzz: atheris is not installed (pip install atheris)", file=sys.stderr)
        return 2
    share = max(1.0, args.seconds / len(names))
    report = []
    for name in names:
        if engine == "hypothesis":
            row = run_hypothesis(name, share)
        else:
            proc = subprocess.run([sys.executable, __file__, "--child", name, "--seconds", str(int(share)),
                                   "--out", str(args.out)], cwd=ROOT, capture_output=True, text=True,
                                  timeout=share + 120)
            runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
            crashed = sorted(p.name for p in (args.out / "crashes").glob(f"{name}-*"))
            row = {"target": name, "engine": "atheris", "inputs": int(runs[-1]) if runs else None,
                   "crashes": crashed, "exit": proc.returncode}
            if proc.returncode not in (0,) and not crashed:
                row["error"] = proc.stderr.strip().splitlines()[-3:]
        report.append(row)
        print(json.dumps(row), flush=True)
    total = sum(r["inputs"] or 0 for r in report)
    bad = [r["target"] for r in report if r["crashes"] or r.get("error")]
    print(f"fuzz: {total} inputs over {len(report)} targets in {args.seconds:.0f} s; "
          f"{'crashes in ' + ', '.join(bad) if bad else 'no crashes'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
