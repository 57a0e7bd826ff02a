"""`borderpost events stats|list|verify|schema|purge`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from edge.cli._common import (
    EXIT_FAIL,
    EXIT_USAGE,
    config_option,
    echo_json,
    fail,
    load_config,
    store_broker_options,
)
from edge.config import Config
from edge.events.model import KINDS
from edge.store import Store, StoreError

T = TypeVar("T")


def open_store(cfg: Config, synchronous: str = "FULL") -> Store:
    try:
        return Store.open(cfg.store.path, max_db_mb=cfg.store.max_db_mb, min_free_mb=cfg.store.min_free_mb,
                          synchronous=synchronous)
    except StoreError as exc:
        fail(str(exc), EXIT_USAGE)


def read_store(config_path: Path | None, store_path: Path | None, broker_url: str | None) -> Store:
    """The store opened read-only (works on a read-only file system, never changes the file).

    With `--store` the config is not needed: a technician can read a copied store on any machine.
    """
    if store_path is None:
        store_path = load_config(config_path, broker_url=broker_url).store.path
    try:
        return Store.open(store_path, read_only=True)
    except StoreError as exc:
        fail(str(exc), EXIT_USAGE)


def _reading(store: Store, read: Callable[[Store], T]) -> T:
    """Run a read; a store error (damage met on a page read now) is one line, after the check ran again."""
    try:
        return read(store)
    except StoreError as exc:
        fail(str(exc), EXIT_USAGE)


@click.group("events")
def cli() -> None:
    """Inspect, verify and maintain the crossing events in the store."""


@cli.command("stats")
@config_option
@store_broker_options
@click.option("--json", "as_json", is_flag=True)
def stats(config_path: Path | None, store_path: Path | None, broker_url: str | None, as_json: bool) -> None:
    """Totals, pending, delivered, parked, oldest pending age, database size, sequence numbers lost."""
    store = read_store(config_path, store_path, broker_url)
    data = _reading(store, lambda s: s.stats().to_dict())
    if as_json:
        echo_json(data)
        return
    for k, v in data.items():
        click.echo(f"{k:22} {v}")
    if data.get("sequence_loss"):
        click.echo(f"borderpost: {store.path}: sequence numbers {data['sequence_loss']['first']}-"
                   f"{data['sequence_loss']['last']} are missing from the store (a lost WAL): tell the agency",
                   err=True)


@cli.command("list")
@config_option
@store_broker_options
@click.option("--pending", is_flag=True, help="Only events not yet acknowledged by the broker.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_(config_path: Path | None, store_path: Path | None, broker_url: str | None, pending: bool,
          limit: int, as_json: bool) -> None:
    """Recent events (ids, states, outcome; no names or biometrics)."""
    store = read_store(config_path, store_path, broker_url)
    rows = _reading(store, lambda s: s.listing(pending_only=pending, limit=limit))
    if as_json:
        for r in rows:
            echo_json(r)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("seq", "id", "kind", "state", "transaction", "outcome", "doc valid")
    for r in rows:
        table.add_row(str(r["seq"]), r["id"], r["kind"], r["state"], str(r.get("transaction", "")),
                      str(r.get("outcome", "")), str(r.get("document_valid", "")))
    Console().print(table)


@cli.command("verify")
@click.argument("file", type=click.File("rb"))
@click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The device's Ed25519 public key (PEM), as printed by `borderpost identity show`.")
@click.option("--device", "device_id", metavar="POST/DEVICE",
              help="Also require every event to come from this post/device (the key proves the signer only).")
def verify(file: click.utils.LazyFile, key_path: Path, device_id: str | None) -> None:
    """Verify signed events in FILE (one JSON event per line, or one JSON document; '-' for stdin)."""
    from edge.events import verify as verify_event
    from edge.events.envelope import source_for
    from edge.identity import IdentityError, load_public_key

    expected = None
    if device_id is not None:
        post, _, device = device_id.partition("/")
        if not post or not device or "/" in device:
            fail(f"--device {device_id!r}: expected POST/DEVICE", EXIT_USAGE)
        expected = source_for(post, device)

    try:
        key = load_public_key(key_path)
    except IdentityError as exc:
        fail(str(exc))
    data = file.read()
    try:
        events = _parse_events(data)
    except ValueError as exc:
        fail(f"{file.name}: not JSON: {exc}")
    bad = 0
    for ev in events:
        v = verify_event(ev, key, expected)
        bad += not v.ok
        echo_json({"id": v.event_id, "sequence": v.sequence, "ok": v.ok, "reason": v.reason})
    sys.exit(EXIT_FAIL if bad or not events else 0)


def _parse_events(data: bytes) -> list:
    """One JSON event, a JSON array of events, or JSON lines (what `mosquitto_sub` writes)."""
    try:
        try:
            whole = json.loads(data)
        except ValueError:
            return [json.loads(line) for line in data.splitlines() if line.strip()]
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return whole if isinstance(whole, list) else [whole]


@cli.command("schema")
@click.argument("kind", required=False, type=click.Choice(sorted(KINDS)))
def schema(kind: str | None) -> None:
    """Print the JSON Schema of one message kind (default: all, as one JSON object by kind)."""
    from edge.events.schema import schema_for

    if kind:
        click.echo(json.dumps(schema_for(kind), indent=2))
    else:
        click.echo(json.dumps({k: schema_for(k) for k in KINDS}, indent=2))


@cli.command("purge")
@config_option
@store_broker_options
@click.option("--json", "as_json", is_flag=True)
def purge(config_path: Path | None, store_path: Path | None, broker_url: str | None, as_json: bool) -> None:
    """Apply retention: delete delivered events and biometric data past their configured age."""
    cfg = load_config(config_path, store_path=store_path, broker_url=broker_url)
    out = _reading(open_store(cfg),
                   lambda s: s.purge(cfg.store.delivered_retention_days, cfg.store.biometric_retention_days))
    echo_json(out) if as_json else click.echo(" ".join(f"{k}={v}" for k, v in out.items()))
