"""`borderpost mrz`: parse MRZ text, or read the MRZ from photographs and scans of a data page.

Output: one JSON object per document per line (the `MrzResult.to_dict()` object, plus `source` and
`seconds` for images). Exit codes: 0 every document valid, 1 any not valid, 2 input is not an MRZ
at all (empty, prose, binary, too large) or unusable arguments.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from edge.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, echo_json, fail
from edge.documents.mrz import MrzResult, parse_mrz

MAX_STDIN_BYTES = 1 << 20   # 1 MiB of MRZ text is ~10,000 documents; more is not a batch of MRZs


def split_documents(text: str) -> list[str]:
    """Documents in a batch: their lines together, documents separated by one or more blank lines."""
    docs: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            docs[-1].append(line)
        elif docs[-1]:
            docs.append([])
    return ["\n".join(d) for d in docs if d]


def exit_code(results: list[dict], any_mrz: bool) -> int:
    if not any_mrz:
        return EXIT_USAGE
    return EXIT_OK if results and all(r["valid"] for r in results) else EXIT_FAIL


_today_option = click.option(
    "--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
    help="Reference date for expiry, age and the century rule (default: today).",
)


@click.group("mrz")
def cli() -> None:
    """Travel-document MRZs (ICAO 9303): parse text, read images."""


@cli.command("parse")
@_today_option
def parse_cmd(today: dt.datetime | None) -> None:
    """Parse MRZs from stdin (a document's lines together, documents separated by a blank line)."""
    raw = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(raw) > MAX_STDIN_BYTES:
        echo_json(MrzResult(errors=(f"not_mrz: input larger than {MAX_STDIN_BYTES} bytes",)).to_dict())
        sys.exit(EXIT_USAGE)
    ref = today.date() if today else None
    docs = split_documents(raw.decode("utf-8", "replace"))
    if not docs:
        echo_json(parse_mrz("", ref).to_dict())
        sys.exit(EXIT_USAGE)
    results, any_mrz = [], False
    for doc in docs:
        result = parse_mrz(doc, ref)
        any_mrz |= result.is_mrz
        results.append(result.to_dict())
        echo_json(results[-1])
    sys.exit(exit_code(results, any_mrz))


@cli.command("read")
@_today_option
@click.option("--attempts", type=click.IntRange(1, 12), default=None,
              help="OCR attempts per image before giving up (default: the reader's own plan).")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
def read_cmd(today: dt.datetime | None, attempts: int | None, images: tuple[Path, ...]) -> None:
    """Read the MRZ from photographs or scans of a document's data page (one JSON line per image)."""
    try:
        from edge.documents.reader import read_mrz_file
    except ImportError as exc:
        fail(f"image reading unavailable: {exc}")
    ref = today.date() if today else None
    results, any_mrz = [], False
    for path in images:
        out = read_mrz_file(path, today=ref, attempts=attempts)
        any_mrz |= out.result.is_mrz
        row = {**out.result.to_dict(), "source": str(path), "seconds": round(out.seconds, 3)}
        if out.problem:
            row["errors"] = [*row["errors"], out.problem]
        results.append(row)
        echo_json(row)
    sys.exit(exit_code(results, any_mrz))
