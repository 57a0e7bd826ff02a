"""`borderpost officers`: the officer and technician accounts that sign in to the booth and the console.

Passwords are read from a prompt (typed twice) or, for scripts, from standard input with
`--password-stdin`; they never appear on the command line, in the store or in the logs (argon2id hashes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edge.cli._common import EXIT_USAGE, config_option, echo_json, fail, load_config
from edge.cli.events import open_store


def _accounts(config_path: Path | None, store_path: Path | None):
    from kiosk_ui.accounts import Accounts

    cfg = load_config(config_path, store_path=store_path)
    return Accounts(open_store(cfg))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


def store_option(f):
    return click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Override store.path (the SQLite file).")(f)


@click.group("officers")
def cli() -> None:
    """Manage officer and technician accounts (booth and technician console sign-in)."""


@cli.command("add")
@config_option
@store_option
@click.argument("account_id")
@click.option("--name", default="", help="Display name (defaults to the id).")
@click.option("--role", type=click.Choice(["officer", "technician"]), default="officer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (one line).")
def add(config_path: Path | None, store_path: Path | None, account_id: str, name: str, role: str,
        password_stdin: bool) -> None:
    """Add an account. Exit 2 on a bad id, a weak password or an existing account."""
    from kiosk_ui.accounts import AccountError

    accounts = _accounts(config_path, store_path)
    try:
        accounts.add(account_id, name or account_id, role, _password(password_stdin))
    except AccountError as exc:
        fail(str(exc), EXIT_USAGE)
    click.echo(f"added {role} {account_id}")


@cli.command("list")
@config_option
@store_option
@click.option("--json", "as_json", is_flag=True)
def list_(config_path: Path | None, store_path: Path | None, as_json: bool) -> None:
    """List accounts (never their hashes)."""
    rows = [{"id": a.id, "name": a.name, "role": a.role, "disabled": a.disabled, "failures": a.failures,
             "locked_until": a.locked_until} for a in _accounts(config_path, store_path).list()]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        flags = (" disabled" if r["disabled"] else "") + (" locked" if r["locked_until"] else "")
        click.echo(f"{r['id']:<20} {r['role']:<11} {r['name']}{flags}")


def _simple(name: str, help_text: str, action: str) -> None:
    @cli.command(name, help=help_text)
    @config_option
    @store_option
    @click.argument("account_id")
    @click.option("--password-stdin", is_flag=True, help="(passwd) read the new password from standard input.",
                  hidden=action != "passwd")
    def command(config_path: Path | None, store_path: Path | None, account_id: str, password_stdin: bool) -> None:
        from kiosk_ui.accounts import AccountError

        accounts = _accounts(config_path, store_path)
        try:
            if action == "passwd":
                accounts.set_password(account_id, _password(password_stdin))
            elif action == "unlock":
                accounts.unlock(account_id)
            else:
                accounts.set_disabled(account_id, action == "disable")
        except AccountError as exc:
            fail(str(exc), EXIT_USAGE)
        click.echo(f"{account_id}: {action} done")


_simple("passwd", "Set a new password (also clears a lock-out).", "passwd")
_simple("disable", "Disable an account: it can no longer sign in.", "disable")
_simple("enable", "Enable a disabled account.", "enable")
_simple("unlock", "Clear a lock-out after repeated failed sign-ins.", "unlock")
