"""`borderpost config check|example`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edge import config as cfgmod
from edge.cli._common import EXIT_USAGE, echo_json, fail

_HERE = Path(__file__).resolve().parent.parent
# In a wheel the example is packaged as edge/_data; in a source checkout it is examples/config.toml.
EXAMPLE_CANDIDATES = (_HERE / "_data" / "config.example.toml", _HERE.parent / "examples" / "config.toml")


def example_path() -> Path:
    return next(p for p in EXAMPLE_CANDIDATES if p.exists())


@click.group("config")
def cli() -> None:
    """Validate the configuration or print a documented example."""


@cli.command("check")
@click.argument("file", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
def check(file: str | None, as_json: bool) -> None:
    """Validate FILE (or '-' for stdin; default: the configured path) and print the effective config."""
    try:
        if file == "-":
            cfg = cfgmod.parse(sys.stdin.read(), "<stdin>")
            source = "<stdin>"
        else:
            cfg, path = cfgmod.load(file)
            source = str(path)
    except cfgmod.ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    data = cfgmod.masked(cfg)
    if as_json:
        echo_json(data)
        return
    from rich.console import Console
    from rich.pretty import Pretty

    console = Console()
    console.print(f"[green]ok[/green] {source}")
    console.print(Pretty(data))


@cli.command("example")
def example() -> None:
    """Print a commented example config that passes `config check`."""
    click.echo(example_path().read_text(encoding="utf-8"), nl=False)
