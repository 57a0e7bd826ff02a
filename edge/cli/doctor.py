"""`borderpost doctor`: is every configured device, the store and the broker ready? (table or --json)"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edge.cli._common import EXIT_FAIL, config_option, echo_json, load_config, store_broker_options
from edge.config import Config
from edge.lane.diagnostics import check_broker, check_runtimes


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
