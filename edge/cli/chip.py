"""`borderpost chip`: read and verify a passport chip through a PC/SC reader; list readers.

`chip read` prints one JSON object (with --json) and exits 0 when the chip was read and verified, 1 when
it was read (or the read broke off) but something failed to verify, 2 for bad input: no such reader,
an unreadable MRZ or CSCA file, or the chip refusing access because the MRZ does not open it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edge.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, fail


@click.group("chip")
def cli() -> None:
    """Passport chips (ICAO Doc 9303): BAC/PACE, data groups, passive and chip authentication."""


@cli.command("readers")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def readers_cmd(as_json: bool) -> None:
    """List the PC/SC readers pcscd offers."""
    from drivers.backends.chip_pcsc import list_readers

    names = list_readers()
    if as_json:
        click.echo(json.dumps(names))
    else:
        for n in names:
            click.echo(n)
        if not names:
            click.echo("no PC/SC readers (is pcscd running?)", err=True)
    sys.exit(EXIT_OK if names else EXIT_FAIL)


def _human(d: dict) -> str:
    pa = d["passive_auth"]
    lines = [f"access: {d['access']}", f"data groups: {d['data_groups']}",
             f"DG1 = MRZ: {d['mrz_match']}", f"SOD signature: {pa['sod_signature']}",
             f"CSCA chain: {pa['csca_chain']}", f"hashes: {pa['hashes']}",
             f"clone check: {d['clone_check']} ({d['clone_check_passed']})",
             f"face: {d['face_image']}", f"valid: {d['valid']}"]
    if d["error"]:
        lines.insert(0, f"error: {d['error']}")
    return "\n".join(lines)


@cli.command("read")
@click.option("--reader", "reader", default=None, help="Reader name (or part of it); default: the first.")
@click.option("--mrz-file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The MRZ read from the data page (its lines).")
@click.option("--csca", "cscas", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSCA certificates (PEM/DER) or an ICAO master list; repeatable.")
@click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CRLs of those CSCAs (PEM/DER); repeatable.")
@click.option("--can", default=None, help="Open the chip with its card access number (PACE) instead of the MRZ.")
@click.option("--wait", "wait_s", type=float, default=5.0, show_default=True, help="Seconds to wait for a card.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def read_cmd(reader: str | None, mrz_file: Path, cscas: tuple[Path, ...], crls: tuple[Path, ...],
             can: str | None, wait_s: float, as_json: bool) -> None:
    """Open the chip with the MRZ (PACE, else BAC), read EF.COM, EF.SOD and the data groups, verify."""
    from drivers.backends.chip_pcsc import ChipPcscConfig, PcscChipReader, list_readers
    from edge.chip.access_key import mrz_key
    from edge.chip.step import load_csca_store, read_chip

    try:
        key = mrz_key(mrz_file.read_text(encoding="ascii", errors="replace")[:4096])
    except OSError as exc:
        fail(f"--mrz-file: {exc.strerror or exc}")
    except ValueError as exc:
        fail(f"--mrz-file: {exc}")
    if can is not None and not (can.isdigit() and 1 <= len(can) <= 10):
        fail("--can: the card access number is digits (6 on most documents)")
    try:
        store = load_csca_store(cscas, crls) if cscas or crls else None
    except ValueError as exc:
        fail(str(exc))
    names = list_readers()
    if not names:
        fail("no PC/SC reader (is pcscd running, and the reader plugged in?)")
    if reader is not None and not any(reader == n or reader in n for n in names):
        fail(f"no reader named {reader!r} (readers: {', '.join(names)})")
    device = PcscChipReader(ChipPcscConfig(reader=reader))
    device.open()
    try:
        result = read_chip(device, key, store, wait_s=wait_s, can=can)
    finally:
        device.close()
    out = result.to_dict()
    click.echo(json.dumps(out) if as_json else _human(out))
    if result.error_kind in ("access_denied", "no_card"):
        click.echo(f"borderpost: {result.error}", err=True)
        sys.exit(EXIT_USAGE)
    if result.error:
        click.echo(f"borderpost: chip read failed: {result.error}", err=True)
    sys.exit(EXIT_OK if result.valid else EXIT_FAIL)
