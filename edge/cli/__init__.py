"""`borderpost`: one entry point; each subcommand lives in its own module `edge/cli/<name>.py` exporting `cli`.

Subcommand modules are imported only when used, so `borderpost mrz parse` does not pay for OpenCV and a
subcommand whose optional dependency is missing fails alone, with a message, not the whole tool.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import click

from edge import __version__

_EXIT_USAGE = 2


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(
            m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
        )

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.list_commands(ctx):
            return None
        try:
            module = importlib.import_module(f"edge.cli.{cmd_name.replace('-', '_')}")
        except ImportError as exc:
            return _unavailable(cmd_name, str(exc))
        return module.cli


def _unavailable(cmd_name: str, reason: str) -> click.Command:
    """Stands in for a subcommand whose optional dependency is missing: says so, exit 2."""

    @click.command(cmd_name, help=f"(unavailable: {reason})", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def unavailable(args: tuple[str, ...]) -> None:
        click.echo(f"borderpost {cmd_name}: unavailable here: {reason}", err=True)
        sys.exit(_EXIT_USAGE)

    return unavailable


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="borderpost")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def root(verbose: int) -> None:
    """borderpost: border-post appliance (documents, biometrics, durable crossing events)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        root.main(args=argv, prog_name="borderpost", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
