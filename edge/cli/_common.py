"""Options and helpers shared by subcommands: config loading with overrides, JSON output, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from edge import config as cfgmod

EXIT_OK = 0
EXIT_FAIL = 1        # the command ran; the answer is "no" (invalid, not ready, not delivered)
EXIT_USAGE = 2       # bad input: config, arguments, files

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"borderpost: {message}", err=True)
    sys.exit(code)


def config_option(f: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help=f"Config file (default: ${cfgmod.ENV_PATH} or {cfgmod.DEFAULT_PATH}).",
    )(f)


def store_broker_options(f: F) -> F:
    f = click.option("--broker", "broker_url", default=None, help="Override broker.url (mqtt://HOST:PORT).")(f)
    f = click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Override store.path (the SQLite file).")(f)
    return f


def apply_overrides(cfg: cfgmod.Config, store_path: Path | None, broker_url: str | None) -> cfgmod.Config:
    """`--store` and `--broker` win over the file; a bad URL exits 2 with the reason."""
    if store_path is not None:
        cfg.store.path = store_path
    if broker_url is not None:
        try:
            cfg.broker = cfgmod.Broker.model_validate({**cfg.broker.model_dump(), "url": broker_url})
        except cfgmod.ValidationError as exc:
            shown = cfgmod.USERINFO_PASSWORD.sub(r"\1***@", broker_url)  # never echo a password
            fail(f"--broker {shown}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    return cfg


def load_config(
    config_path: Path | None, *, store_path: Path | None = None, broker_url: str | None = None,
    check_devices: bool = True,
) -> cfgmod.Config:
    """Load the config, apply command-line overrides, exit 2 with a one-line message on any problem."""
    try:
        cfg, _ = cfgmod.load(config_path, check_devices=check_devices)
    except cfgmod.ConfigError as exc:
        fail(str(exc))
    return apply_overrides(cfg, store_path, broker_url)


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, default=str, sort_keys=False))
