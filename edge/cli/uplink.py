"""`borderpost uplink`: deliver the store's events to the broker (its own process)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import click

from edge import config as cfgmod
from edge.cli._common import EXIT_USAGE, apply_overrides, config_option, fail, load_config, store_broker_options
from edge.cli.events import open_store
from edge.identity import IdentityError, load_or_create_key
from edge.uplink import Uplink
from edge.uplink.client import certificate_mismatch


def reloader(config_path: Path | None, store_path: Path | None, broker_url: str | None) -> Callable[[], cfgmod.Config]:
    """What the `reload` command calls inside the running uplink: raises ConfigError, never exits the process.
    Devices' settings are the station's to check: a bad camera setting must not stop crossings being delivered,
    and checking them would load every device's libraries into the uplink."""

    def reload() -> cfgmod.Config:
        cfg, _ = cfgmod.load(config_path, check_devices=False)
        if store_path is not None:
            cfg.store.path = store_path
        if broker_url is not None:  # validated when the uplink started
            cfg = apply_overrides(cfg, None, broker_url)
        return cfg

    return reload


@click.command("uplink")
@config_option
@store_broker_options
def cli(config_path: Path | None, store_path: Path | None, broker_url: str | None) -> None:
    """Publish pending events over MQTT v5 (QoS 1), marking each delivered only on PUBACK. Runs until stopped."""
    from edge import service

    service.starting("opening the store")
    cfg = load_config(config_path, store_path=store_path, broker_url=broker_url, check_devices=False)
    try:
        cfg.broker.check_files()
    except cfgmod.ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    mismatch = certificate_mismatch(cfg)
    if mismatch:
        fail(mismatch, EXIT_USAGE)
    store = open_store(cfg, synchronous="NORMAL")  # its writes are only delivery marks
    try:
        key = load_or_create_key(cfg.identity.signing_key)
    except (IdentityError, OSError) as exc:
        fail(str(exc), EXIT_USAGE)

    reload = reloader(config_path, store_path, broker_url)
    stop = threading.Event()
    service.stop_on_signals(stop)
    service.starting("starting the delivery loop")
    try:
        uplink = Uplink(cfg, store, key, reload=reload)
    except IdentityError as exc:  # the agency's command key named in [keys] cannot be loaded
        fail(str(exc), EXIT_USAGE)
    service.run_service("uplink", lambda hb: uplink.run(stop, on_iteration=hb), stop)
