"""The station loads its models when it starts: NFIQ 2 first, the face models second, before any traveller."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from edge.biometrics.finger import nfiq2
from edge.config import parse
from edge.devices import open_devices
from edge.lane.steps import Steps
from edge.recorder import Recorder
from edge.station import Station
from edge.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _station(tmp_path: Path, fingers: bool) -> Station:
    text = (ROOT / "examples" / "config.toml").read_text()
    text = text.replace('path = "/var/lib/borderpost/borderpost.db"', f'path = "{tmp_path / "bp.db"}"', 1)
    if not fingers:
        text = text.replace('fingerprints = ["right_index", "left_index"]', "fingerprints = []", 1)
    cfg = parse(text)
    store = Store.open(cfg.store.path, min_free_mb=0)
    return Station(cfg, store, Recorder(cfg, store), open_devices(cfg))


@pytest.mark.parametrize("fingers", [True, False])
def test_models_are_loaded_at_start_in_order(tmp_path, monkeypatch, caplog, fingers):
    order: list[str] = []
    warm, load = nfiq2.warm_up, Steps._load_analyzer
    monkeypatch.setattr(nfiq2, "warm_up", lambda: (order.append("nfiq2"), warm())[1])
    monkeypatch.setattr(Steps, "_load_analyzer", lambda self: (order.append("face"), load(self))[1])
    station = _station(tmp_path, fingers)
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="borderpost.lane.steps")
    loop = threading.Thread(target=station.run, args=(stop,), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 120
        while "models loaded" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "models loaded" in caplog.text
        assert order == (["nfiq2", "face"] if fingers else ["face"])
        assert station.lane.steps.analyzer() is not None and station.state.recorded == 0
        assert ("NFIQ 2" in caplog.text) is fingers
    finally:
        stop.set()
        loop.join(10)
        station.lane.stop()
        station.devices.close()


def test_stopping_the_lane_waits_for_the_models_being_loaded(tmp_path, caplog):
    """A station stopped while it loads its models (a restart just after boot) lets the loading end before it
    exits: a daemon thread still inside OpenCV or ONNX Runtime at the interpreter's exit aborts the process."""
    station = _station(tmp_path, fingers=False)
    caplog.set_level(logging.INFO, logger="borderpost.lane.steps")
    station.lane.steps.start_warm_up()
    warming = station.lane.steps._warming
    assert warming is not None and warming.is_alive()
    station.lane.stop()
    try:
        assert not warming.is_alive()
        assert "models loaded" in caplog.text
    finally:
        station.devices.close()
