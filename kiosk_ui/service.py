"""Serve the three UIs over a running lane: the web server, its accounts and its console logs.

`UIServer` is what `borderpost station` (when `[ui] enabled`) and `borderpost simulate --ui` start. It
serves the station's lane: the station keeps owning the devices, hands document reads to a waiting kiosk
session, and records the others in auto mode.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from typing import Any

from edge.config import Config
from edge.lane.lane import Lane
from edge.lane.options import Options
from kiosk_ui.accounts import Accounts
from kiosk_ui.tech import LogBuffer
from kiosk_ui.web import create_app

log = logging.getLogger("borderpost.ui")


class _BelowLevel(logging.Filter):
    """Drops records of `name` below `level` (keeps the terminal as quiet as it was)."""

    def __init__(self, name: str, level: int) -> None:
        super().__init__()
        self.prefix, self.level = name, level

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(self.prefix) and record.levelno < self.level)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class UIServer:
    def __init__(self, cfg: Config, lane: Lane, *, host: str | None = None, port: int | None = None,
                 options: Options | None = None, info_logs: bool = False) -> None:
        self.cfg = cfg
        self.host = host or cfg.ui.host
        self.port = port if port is not None else cfg.ui.port
        if self.port == 0:
            self.port = free_port(self.host)
        self.lane = lane
        if options is not None:
            lane.set_options(options)
        self.accounts = Accounts(lane.store, lane.options.max_failures, lane.options.lockout_s, lock=lane.lock)
        self.app = create_app(lane, self.accounts)
        self.logs = LogBuffer()
        self.app.state.ui.log_buffer = self.logs
        self.info_logs = info_logs               # raise `borderpost` to INFO for the console (CLI use only)
        self._restore_logs: list[Any] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> UIServer:
        import uvicorn

        self._capture_info_logs()
        self.lane.start()
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off",
                                access_log=False, timeout_graceful_shutdown=1, ws="none")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None   # the caller owns signals
        self._thread = threading.Thread(target=self._server.run, name="ui-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the UI could not start on {self.url} (port in use?)")
            time.sleep(0.02)
        log.info("UIs on %s/kiosk, /booth and /tech", self.url)
        return self

    def _capture_info_logs(self) -> None:
        """The console shows INFO lines even when the terminal shows only warnings."""
        logger = logging.getLogger("borderpost")
        logger.addHandler(self.logs)
        shown = logger.getEffectiveLevel()
        if self.info_logs and shown > logging.INFO:
            previous = logger.level
            logger.setLevel(logging.INFO)
            quiet = _BelowLevel("borderpost", shown)
            handlers = list(logging.getLogger().handlers)
            for h in handlers:
                h.addFilter(quiet)
            self._restore_logs = [lambda: logger.setLevel(previous),
                                  *[(lambda h=h: h.removeFilter(quiet)) for h in handlers]]

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.lane.stop()
        logging.getLogger("borderpost").removeHandler(self.logs)
        for undo in self._restore_logs:
            undo()

    def attach(self, station: Any) -> None:
        """Route the station's document reads to a waiting kiosk session; other reads stay auto-recorded."""
        station.on_document = self.lane.offer_document
        self.lane.attached = True

    def demo_accounts(self) -> dict[str, str]:
        """An officer and a technician with fresh random passwords (for simulations only)."""
        out = {}
        for account_id, role in (("officer1", "officer"), ("tech1", "technician")):
            password = secrets.token_urlsafe(9)
            if self.accounts.get(account_id) is None:
                self.accounts.add(account_id, account_id, role, password, actor="simulate")
            else:
                self.accounts.set_password(account_id, password, actor="simulate")
            out[account_id] = password
        return out


def simulation_hooks(cfg: Config, port: int | None, echo: Any = print) -> tuple[Config, dict[str, Any]]:
    """What `simulate --ui` passes to `edge.simulate.run`: start the UIs when ready, run until Ctrl-C."""
    from edge.lane.demo import demo_config
    from edge.service import stop_on_signals

    cfg = demo_config(cfg)
    keep = threading.Event()
    holder: dict[str, UIServer] = {}

    def on_ready(station: Any) -> None:
        server = UIServer(cfg, station.lane, host="127.0.0.1", port=port, info_logs=True)
        server.attach(station)
        creds = server.demo_accounts()
        server.start()
        holder["server"] = server
        echo(f"kiosk:      {server.url}/kiosk   (?lang=ar|en|fr)")
        echo(f"booth:      {server.url}/booth   officer1 / {creds['officer1']}")
        echo(f"technician: {server.url}/tech    tech1 / {creds['tech1']}")
        echo("Press Ctrl-C to stop.")

    def on_stop() -> None:
        if "server" in holder:
            holder["server"].stop()

    stop_on_signals(keep)
    return cfg, {"keep_running": keep, "on_ready": on_ready, "on_stop": on_stop}
