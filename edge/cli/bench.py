"""`borderpost bench NAME [ARGS...]`: run a benchmark from the source tree's bench/ (prints numbers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from edge.cli._common import fail

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def available() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_")) if BENCH_DIR.is_dir() else []


@click.command("bench", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("name", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cli(name: str | None, args: tuple[str, ...]) -> None:
    """Run bench/NAME.py with ARGS (no NAME: list the benchmarks). Benchmarks ship with the source tree."""
    names = available()
    if not names:
        fail("no bench/ directory here: benchmarks ship with the source tree, not the installed package")
    if name is None:
        click.echo("\n".join(names))
        return
    if name not in names:
        fail(f"unknown benchmark {name!r} (known: {', '.join(names)})")
    sys.exit(subprocess.call([sys.executable, str(BENCH_DIR / f"{name}.py"), *args], cwd=BENCH_DIR.parent))
