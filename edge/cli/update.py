"""`borderpost update ...`: A/B system updates with RAUC (install a signed bundle, status, info, roll back).

Installing writes the other root slot and makes it the next boot's first choice; systemd-boot tries it three
times at most and the health check (borderpost-health.service) must pass, else the device falls back to the
slot it came from. Run as root on the appliance (the technician's sudo). Exit codes: 0 done, 1 the system
refused or failed, 2 bad input (no such file, not a bundle, bad signature, wrong compatible).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edge.cli._common import echo_json, fail


def _rauc():  # type: ignore[no-untyped-def]
    from edge.update import rauc

    return rauc


@click.group("update")
def cli() -> None:
    """System updates (A/B, RAUC): install a bundle, show the slots, roll back."""


INCOMING = Path("/var/lib/borderpost/update")


def _from_stdin(directory: Path) -> Path:
    """`-`: the bundle streamed in (ssh ... borderpost update install - < b.raucb), kept on the data partition."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "incoming.raucb"
    try:
        with open(target, "wb") as out:
            while chunk := sys.stdin.buffer.read(1 << 20):
                out.write(chunk)
    except OSError as exc:
        fail(f"cannot store the bundle in {directory}: {exc.strerror or exc}")
    return target


@cli.command("install")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the steps and result as JSON.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=INCOMING,
              show_default=True, help="Where a bundle read from stdin (BUNDLE '-') is kept while installing.")
def install(bundle: Path, as_json: bool, directory: Path) -> None:
    """Install BUNDLE (a signed .raucb, or - for stdin) into the other slot; reboot to run it."""
    rauc = _rauc()
    streamed = str(bundle) == "-"
    if streamed:
        bundle = _from_stdin(directory)
    shown = {"n": 0}
    bar = None if as_json or not sys.stderr.isatty() else click.progressbar(length=100, label="installing",
                                                                            file=sys.stderr)

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        if bar is not None:
            bar.update(p.percent - shown["n"])
            shown["n"] = p.percent
        elif not as_json:
            click.echo(f"{p.percent:3d}% {p.message}", err=True)

    try:
        steps = rauc.install(bundle, progress)
    except rauc.UpdateError as exc:
        if bar is not None:
            bar.render_finish()
        fail(str(exc), exc.exit_code)
    finally:
        if streamed:
            bundle.unlink(missing_ok=True)
    if bar is not None:
        bar.render_finish()
    if as_json:
        echo_json({"installed": str(bundle), "ok": True,
                   "steps": [{"percent": s.percent, "message": s.message} for s in steps]})
    else:
        click.echo(f"installed {bundle} into the other slot: it runs from the next reboot "
                   "(and falls back by itself if its health check fails)")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (from rauc status --output-format=json).")
def status(as_json: bool) -> None:
    """Which slot runs, which boots next, each slot's state and version."""
    rauc = _rauc()
    try:
        st = rauc.status()
    except rauc.UpdateError as exc:
        fail(str(exc), exc.exit_code)
    if as_json:
        echo_json(st)
        return
    click.echo(f"compatible {st['compatible']}; booted slot {st['booted']}; next boot {st['boot_primary']}")
    for s in st["slots"]:
        click.echo(f"  {s['name']:<10} {s['bootname'] or '-':<2} {s['state'] or '-':<9} "
                   f"boot {s['boot_status'] or '-':<5} version {s['version'] or '-'}")


@cli.command("info")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--keyring", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CA certificate to verify against (default: the system's /etc/rauc/keyring.pem).")
def info(bundle: Path, keyring: Path | None) -> None:
    """Check BUNDLE's signature and show its manifest (JSON)."""
    rauc = _rauc()
    try:
        echo_json(rauc.info(bundle, keyring))
    except rauc.UpdateError as exc:
        fail(str(exc), exc.exit_code)


@cli.command("rollback")
def rollback() -> None:
    """Make the other slot the next boot's first choice (it must hold a system); reboot to switch."""
    rauc = _rauc()
    try:
        rauc.mark("active", "other")
    except rauc.UpdateError as exc:
        fail(str(exc), exc.exit_code)
    click.echo("the other slot boots next: reboot to switch (it is tried like a new system)")
