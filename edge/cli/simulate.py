"""`borderpost simulate`: a whole simulated border post on this machine (the demo and a test harness)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from edge.cli._common import (
    EXIT_FAIL,
    EXIT_USAGE,
    apply_overrides,
    config_option,
    echo_json,
    fail,
    load_config,
    store_broker_options,
)
from edge.config import ENV_PATH, ConfigError, parse


def _demo_config() -> str:
    from edge.cli.config import example_path

    return example_path().read_text(encoding="utf-8")


@click.command("simulate")
@config_option
@store_broker_options
@click.option("--travellers", "-n", default=10, show_default=True, help="Synthetic travellers to run through.")
@click.option("--offline", is_flag=True, help="Record into the configured store without publishing.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the broker's acknowledgements.")
@click.option("--seed", default=1, show_default=True, help="Seed for the synthetic travellers.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--ui", "ui", is_flag=True,
              help="Also serve the kiosk, booth and technician UIs on 127.0.0.1 and keep running until Ctrl-C.")
@click.option("--ui-port", "ui_port", type=click.IntRange(0, 65535), default=None, metavar="PORT",
              help="Port for --ui (default: the config's ui.port, 8080).")
def cli(config_path: Path | None, store_path: Path | None, broker_url: str | None, travellers: int,
        offline: bool, timeout: float, seed: int, as_json: bool, ui: bool, ui_port: int | None) -> None:
    """Run N synthetic travellers through simulated devices, the station and the uplink.

    Exits 0 when every traveller's crossing was recorded and (unless --offline) acknowledged by the broker.
    Without --config it uses the packaged example config with simulated devices.
    """
    from edge import simulate

    if config_path is None and not os.environ.get(ENV_PATH):
        try:
            cfg = apply_overrides(parse(_demo_config(), "<example config>"), store_path, broker_url)
        except ConfigError as exc:
            fail(str(exc))
    else:
        cfg = load_config(config_path, store_path=store_path, broker_url=broker_url)
    from edge.events.seal import SealError
    from edge.identity import IdentityError
    from edge.store import StoreError

    cfg = simulate.prepare(cfg, store_path, offline)
    hooks = {}
    if ui:
        from kiosk_ui.service import simulation_hooks

        cfg, hooks = simulation_hooks(cfg, ui_port, echo=click.echo)
    try:
        result = simulate.run(cfg, travellers, offline=offline, timeout=timeout, seed=seed, **hooks)
    except (StoreError, SealError, IdentityError) as exc:  # store, or an agency key in [keys], unusable
        fail(str(exc), EXIT_USAGE)
    except RuntimeError as exc:
        fail(str(exc), EXIT_FAIL)
    if as_json:
        echo_json({**result.__dict__, "store": str(result.store)})
    elif offline:
        click.echo(f"{result.recorded}/{result.travellers} travellers recorded into {result.store} "
                   f"(offline: nothing published) in {result.seconds} s")
    else:
        click.echo(f"{result.recorded}/{result.travellers} travellers recorded, {result.delivered} acknowledged "
                   f"by {cfg.broker.url}, {result.pending} pending, in {result.seconds} s (store {result.store})")
    if not result.ok:
        click.echo(f"borderpost simulate: {result.reason}", err=True)
        sys.exit(EXIT_FAIL)
