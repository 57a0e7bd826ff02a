"""`borderpost alerts keygen|sign|import|status|match|publish`: alert lists at the post (docs/alerts.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from edge.cli._common import EXIT_USAGE, config_option, echo_json, fail, load_config, store_broker_options

_PATH = click.Path(dir_okay=False, path_type=Path)


@click.group("alerts")
def cli() -> None:
    """Alert lists: sign (agency), import and status (technician), match (testing a list)."""


@cli.command("keygen")
@click.argument("private_key", type=_PATH)
@click.argument("public_key", type=_PATH)
def keygen(private_key: Path, public_key: Path) -> None:
    """Make the agency's Ed25519 alert-list key pair (PEM; the private file is mode 0600)."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    try:
        fd = os.open(private_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        fail(f"{private_key}: {exc.strerror or exc}")
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    public_key.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    click.echo(f"wrote {private_key} (keep it at the agency) and {public_key} ([keys] alert_list_public_key)")


def _private_key(path: Path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    except (ValueError, TypeError):
        fail(f"{path}: not an unencrypted PEM private key")
    if not isinstance(key, Ed25519PrivateKey):
        fail(f"{path}: the alert-list key must be Ed25519")
    return key


@cli.command("sign")
@click.option("--key", "key_path", type=_PATH, required=True, help="The agency's Ed25519 list key (PEM).")
@click.option("--version", "version", type=click.IntRange(min=1), default=None,
              help="The list's version (default: seconds since 1970; must grow with every list).")
@click.option("--delta-from", "base", type=click.IntRange(min=1), default=None,
              help="Sign a delta (lines {op: add, entry} / {op: remove, id}) for this applied version.")
@click.option("--out", "-o", type=_PATH, default=None, help="Bundle file (default: LIST with .bundle).")
@click.argument("list_path", type=_PATH)
def sign(key_path: Path, version: int | None, base: int | None, out: Path | None, list_path: Path) -> None:
    """Check LIST.jsonl line by line and sign it as a bundle (the agency's tool)."""
    import time

    from edge.alerts.bundle import make_bundle
    from edge.alerts.entries import ListError, parse_entries, parse_ops

    key = _private_key(key_path)
    try:
        body = list_path.read_bytes()
    except OSError as exc:
        fail(f"{list_path}: {exc.strerror or exc}")
    try:
        n = len(parse_ops(body.splitlines()) if base else parse_entries(body.splitlines()))
    except ListError as exc:
        fail(f"{list_path}: {exc}")
    version = version or int(time.time())
    if base is not None and version <= base:
        fail(f"--version {version} must be greater than --delta-from {base}")
    bundle = make_bundle(body, key, version=version, kind="delta" if base else "snapshot", base=base)
    out = out or list_path.with_suffix(".bundle")
    out.write_bytes(bundle)
    click.echo(f"{out}: {'delta' if base else 'snapshot'} version {version}, {n} lines, {len(bundle)} bytes")


def _db(config_path: Path | None, store_path: Path | None):
    from edge.alerts.check import open_db
    from edge.alerts.db import AlertDBError

    cfg = load_config(config_path, store_path=store_path)
    try:
        return cfg, open_db(cfg)
    except (AlertDBError, ValueError) as exc:
        fail(str(exc))


@cli.command("import")
@config_option
@store_broker_options
@click.argument("bundle_path", type=_PATH)
def import_(config_path: Path | None, store_path: Path | None, broker_url: str | None, bundle_path: Path) -> None:
    """Verify and apply a signed bundle offline (technician). Refused: the reason, exit 2, the list stays."""
    from edge.alerts.bundle import MAX_BUNDLE_BYTES, BundleError
    from edge.alerts.entries import ListError

    _cfg, db = _db(config_path, store_path)
    try:
        size = bundle_path.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            fail(f"{bundle_path}: refused: oversized: {size} bytes, the limit is {MAX_BUNDLE_BYTES}")
        data = bundle_path.read_bytes()
    except OSError as exc:
        fail(f"{bundle_path}: {exc.strerror or exc}")
    try:
        applied = db.apply_bundle(data, source=f"import:{bundle_path.name}")
    except (BundleError, ListError) as exc:
        fail(f"{bundle_path}: refused: {exc}")
    click.echo(f"applied {applied.kind} version {applied.version}: {applied.entries} entries "
               f"({applied.changes} lines) in {applied.seconds:.1f} s")


@cli.command("status")
@config_option
@store_broker_options
@click.option("--json", "as_json", is_flag=True)
def status(config_path: Path | None, store_path: Path | None, broker_url: str | None, as_json: bool) -> None:
    """Version, entries, age (hours since issued), source and staleness of the applied list."""
    cfg, db = _db(config_path, store_path)
    st = db.status(stale_after_hours=cfg.alerts.stale_after_hours)
    st["stale_policy"] = cfg.alerts.stale_policy
    if as_json:
        echo_json(st)
        return
    for k, v in st.items():
        click.echo(f"{k:14} {'-' if v is None else v}")


@cli.command("match")
@click.option("--list", "list_path", type=_PATH, required=True, help="The list (JSON Lines, unsigned is fine).")
def match(list_path: Path) -> None:
    """Read travellers (JSON Lines) on stdin; print one line {"hits": [...]} per input line, best first."""
    from edge.alerts.entries import ListError, parse_entries
    from edge.alerts.match import Matcher

    try:
        with list_path.open("rb") as f:
            matcher = Matcher.from_entries(parse_entries(f))
    except OSError as exc:
        fail(f"{list_path}: {exc.strerror or exc}")
    except ListError as exc:
        fail(f"{list_path}: {exc}")
    out = sys.stdout
    for raw in sys.stdin.buffer:
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            out.write(json.dumps({"hits": [], "error": "not a JSON object"}) + "\n")
            continue
        if not isinstance(obj, dict):
            out.write(json.dumps({"hits": [], "error": "not a JSON object"}) + "\n")
            continue
        try:
            hits = [h.to_dict() for h in matcher.match(obj)]
            out.write(json.dumps({"hits": hits}, ensure_ascii=False) + "\n")
        except Exception as exc:  # a traveller the matcher cannot read still gets its line
            out.write(json.dumps({"hits": [], "error": type(exc).__name__}) + "\n")
        out.flush()


@cli.command("publish")
@click.option("--broker", "broker_url", required=True, help="mqtt://HOST:PORT of the agency's broker.")
@click.option("--prefix", default="borderpost/v1", show_default=True)
@click.argument("bundles", type=_PATH, nargs=-1, required=True)
def publish(broker_url: str, prefix: str, bundles: tuple[Path, ...]) -> None:
    """Publish signed bundles on the retained alert-list topics (the agency's side; no TLS: tests and demos)."""
    from edge.alerts.bundle import BundleError
    from edge.alerts.sync import publish_list

    parts = urlsplit(broker_url)
    if parts.scheme != "mqtt" or not parts.hostname:
        fail("--broker: expected mqtt://HOST:PORT", EXIT_USAGE)
    try:
        n = publish_list(parts.hostname, parts.port or 1883, prefix, [b.read_bytes() for b in bundles])
    except (OSError, BundleError, RuntimeError) as exc:
        fail(f"publish: {exc}")
    click.echo(f"published {len(bundles)} bundle(s) in {n} retained messages")
