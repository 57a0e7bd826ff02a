"""`borderpost station`: the appliance's main job (devices, pipeline, UI); delivery runs in `uplink`."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from edge.cli._common import EXIT_USAGE, config_option, fail, load_config, store_broker_options
from edge.cli.events import open_store


@click.command("station")
@config_option
@store_broker_options
def cli(config_path: Path | None, store_path: Path | None, broker_url: str | None) -> None:
    """Run the station until stopped (SIGTERM): read devices, record crossings into the store."""
    from edge import service

    service.starting("loading the pipeline")
    from edge.devices import open_devices
    from edge.events.seal import SealError
    from edge.identity import IdentityError, load_or_create_key
    from edge.recorder import Recorder
    from edge.station import Station

    service.starting("opening the store")
    cfg = load_config(config_path, store_path=store_path, broker_url=broker_url)
    store = open_store(cfg)
    try:
        key = load_or_create_key(cfg.identity.signing_key)
    except (IdentityError, OSError) as exc:
        fail(str(exc), EXIT_USAGE)
    stop = threading.Event()
    service.stop_on_signals(stop)
    try:
        recorder = Recorder(cfg, store, key)
    except SealError as exc:  # the agency's encryption key named in [keys] cannot be loaded
        fail(str(exc), EXIT_USAGE)
    from edge.lane.checks import CheckError

    service.starting("opening the devices")
    devices = open_devices(cfg)
    service.starting("setting up the lane")
    try:
        station = Station(cfg, store, recorder, devices)
    except CheckError as exc:
        devices.close()
        fail(str(exc), EXIT_USAGE)
    ui = None
    if cfg.ui.enabled:
        service.starting("starting the local UI")
        from kiosk_ui.service import UIServer

        try:
            ui = UIServer(cfg, station.lane, info_logs=True)
            ui.attach(station)
            ui.start()
        except (RuntimeError, OSError) as exc:
            devices.close()
            fail(f"ui: {exc}", EXIT_USAGE)
    try:
        service.run_service("station", lambda hb: station.run(stop, heartbeat=hb), stop)
    finally:
        if ui is not None:
            ui.stop()
        station.lane.stop()
        devices.close()
