"""`borderpost doctor`: is every configured device, the store and the broker ready? (table or --json)"""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import click

from edge.cli._common import EXIT_FAIL, config_option, echo_json, load_config, store_broker_options
from edge.config import Config


def check_devices(cfg: Config) -> list[dict[str, Any]]:
    from drivers.contract import Status
    from edge.devices import open_devices

    rows = []
    devices = open_devices(cfg)
    try:
        for name, d in devices.devices.items():
            row: dict[str, Any] = {"name": name, "backend": d.backend, "simulated": cfg.devices[name].simulated}
            if d.device is None:
                row.update(status="unavailable", ok=False, detail=d.error)
            else:
                report = d.status()
                if report is not None and report.status is not Status.READY:
                    import time

                    time.sleep(0.5)  # give a just-opened device a moment (reader threads, sensor init)
                    report = d.status()
                info = d.device.info()
                row.update(status=report.status.value, ok=report.ready, detail=report.detail,
                           make=info.make, model=info.model, serial=info.serial, firmware=info.firmware)
            rows.append(row)
    finally:
        devices.close()
    return rows


def check_store(cfg: Config) -> dict[str, Any]:
    from edge.store import Store, StoreError

    try:
        store = Store.open(cfg.store.path, max_db_mb=cfg.store.max_db_mb, min_free_mb=cfg.store.min_free_mb)
    except StoreError as exc:
        return {"name": "store", "ok": False, "status": "error", "detail": str(exc)}
    try:
        st = store.stats()
        problem = store.capacity_problem()
    finally:
        store.close()
    detail = f"{st.pending} pending, {st.parked} parked, {st.db_size_bytes // 1024} KiB"
    return {"name": "store", "ok": problem is None, "status": "storage full" if problem else "ready",
            "detail": problem or detail, "path": str(cfg.store.path), **st.to_dict()}


def check_broker(cfg: Config, timeout: float = 3.0) -> dict[str, Any]:
    """TCP (and TLS) reachability; the uplink's own status says whether it is connected."""
    b = cfg.broker
    row: dict[str, Any] = {"name": "broker", "url": b.url}
    try:
        with socket.create_connection((b.host, b.port), timeout=timeout) as sock:
            if b.tls:
                ctx = ssl.create_default_context(cafile=str(b.ca_file) if b.ca_file else None)
                if b.cert_file and b.key_file:
                    ctx.load_cert_chain(str(b.cert_file), str(b.key_file))
                with ctx.wrap_socket(sock, server_hostname=b.host):
                    pass
    except (OSError, ssl.SSLError) as exc:
        return {**row, "ok": False, "status": "unreachable",
                "detail": f"{exc}; events wait in the store until it is back"}
    return {**row, "ok": True, "status": "reachable", "detail": ""}


def check_runtimes() -> list[dict[str, Any]]:
    """ML runtimes, the face models and the MRZ scan: reported, never fatal (a kiosk without a camera needs neither)."""
    from edge.biometrics.face import models, runtimes
    from edge.documents import fastpath

    rows = [{"name": f"runtime:{name}", "ok": True, "status": "usable" if why is None else "absent",
             "detail": why or "", "optional": True} for name, why in runtimes.available().items()]
    directory = models.models_dir()
    states = models.verify(directory)
    bad = {k: v.value for k, v in states.items() if v is not models.ModelState.OK}
    rows.append({"name": "face models", "ok": True, "status": "verified" if not bad else "not verified",
                 "detail": str(directory) if not bad else f"{bad}; run `borderpost models fetch`",
                 "optional": True})
    compiled = fastpath.IMPLEMENTATION == "compiled"
    rows.append({"name": "mrz scan", "ok": True, "status": fastpath.IMPLEMENTATION,
                 "detail": "" if compiled else "no C compiler at install: the same checks, about 2x slower",
                 "optional": True})
    return rows


def check_backends() -> list[dict[str, Any]]:
    """Backends that cannot be loaded here (missing dependency, broken plugin), and plugins from other packages."""
    from drivers import registry

    plugins = set(registry.plugin_names())
    rows = []
    for entry in registry.all_backends():
        if entry.cls is None or entry.name in plugins:
            rows.append({"name": f"backend:{entry.name}", "ok": True, "optional": True,
                         "status": "unavailable" if entry.cls is None else "plugin",
                         "detail": entry.error or f"from {entry.cls.__module__} ({registry.ENTRY_POINT_GROUP})"})
    return rows


@click.command("doctor")
@config_option
@store_broker_options
@click.option("--json", "as_json", is_flag=True)
def cli(config_path: Path | None, store_path: Path | None, broker_url: str | None, as_json: bool) -> None:
    """Check every configured device, the store, the broker and the ML runtimes. Exit 1 if any is not ready."""
    cfg = load_config(config_path, store_path=store_path, broker_url=broker_url)
    devices = check_devices(cfg)
    store = check_store(cfg)
    broker = check_broker(cfg)
    runtimes = [*check_runtimes(), *check_backends()]
    ok = all(r["ok"] for r in [*devices, store, broker])
    if as_json:
        echo_json({"ok": ok, "devices": devices, "store": store, "broker": broker, "runtimes": runtimes})
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("what", "backend / where", "status", "detail", title="borderpost doctor")
        for r in devices:
            model = f" {r.get('make', '')} {r.get('model', '')}".rstrip() if r.get("make") else ""
            table.add_row(r["name"], r["backend"] + (" (simulated)" if r["simulated"] else "") + model,
                          _mark(r), str(r.get("detail") or ""))
        table.add_row("store", store.get("path", ""), _mark(store), str(store["detail"]))
        table.add_row("broker", broker["url"], _mark(broker), broker["detail"])
        for r in runtimes:
            table.add_row(r["name"], "optional", r["status"], r["detail"])
        Console().print(table)
    sys.exit(0 if ok else EXIT_FAIL)


def _mark(row: dict[str, Any]) -> str:
    return f"[green]{row['status']}[/green]" if row["ok"] else f"[red]{row['status']}[/red]"
