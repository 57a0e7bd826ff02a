"""The agency's `update` command: ask one appliance to fetch a system bundle (RAUC) from URL over its mutual-TLS
identity, check its SHA-256, and install it into its other slot. Signed, recorded and audited like every
command (central.commands); the device answers at once ({"state": "started"}), then reports progress and the
final result under the same command id (edge.update.job), which `send_update` waits for.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from uuid6 import uuid7

from central import commands, db

SHA256 = re.compile(r"^[0-9a-f]{64}$")
FINAL_STATES = ("installed", "failed")


def update_args(url: str, sha256: str, size: int | None = None) -> dict[str, Any]:
    """The command's arguments, checked as the device will check them (ValueError with the reason)."""
    if not url.startswith("https://"):
        raise ValueError("the bundle URL must be https:// (devices fetch it with their client certificate)")
    digest = sha256.lower()
    if not SHA256.match(digest):
        raise ValueError("sha256 must be 64 hexadecimal digits")
    args: dict[str, Any] = {"url": url, "sha256": digest}
    if size is not None:
        if size <= 0:
            raise ValueError("size must be positive")
        args["size"] = size
    return args


def bundle_digest(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size) of a bundle file, for an operator who has the file the URL serves."""
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def issue_update(engine: Engine, key: Ed25519PrivateKey, post: str, device: str, args: dict[str, Any],
                 actor: str) -> tuple[str, bytes]:
    """Record and audit an update command, then return (id, signed message) for the caller to publish."""
    cid, now = str(uuid7()), time.time()
    payload = commands.sign("update", args, f"{post}/{device}", key, cid, now)
    with engine.begin() as conn:
        conn.execute(db.commands.insert().values(id=cid, name="update", post=post, device=device,
                                                 args=json.dumps(args, sort_keys=True), issued_at=now,
                                                 issued_by=actor))
        db.add_audit(conn, actor, "command update", f"{post}/{device}", f"id {cid} args {json.dumps(args)}")
    return cid, payload


def send_update(engine: Engine, broker_url: str, key: Ed25519PrivateKey, prefix: str, post: str, device: str,
                args: dict[str, Any], *, actor: str, wait: float = 1800.0, ca_file: Path | None = None,
                username: str | None = None, password: str | None = None,
                on_report: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Publish a signed update command and follow the device's signed reports until the final one (or WAIT s)."""
    from central.registry import RegistryCache
    from central.sender import broker_session
    from central.store import EventStore
    from central.verify import Accepted, check_signed

    with broker_session(broker_url, "update", ca_file=ca_file, username=username,
                        password=password) as (client, answers):
        topic = commands.topic(prefix, post, device, "update")
        client.subscribe(f"{topic}/result", qos=1)
        cid, payload = issue_update(engine, key, post, device, args, actor)
        client.publish(topic, payload, qos=1).wait_for_publish(10)
        out: dict[str, Any] = {"command_id": cid, "name": "update", "target": f"{post}/{device}", "sent": True,
                               "reports": []}
        deadline, lookup = time.monotonic() + wait, RegistryCache(engine)
        while wait and time.monotonic() < deadline:
            try:
                got_topic, body = answers.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            checked = check_signed(got_topic, body, prefix, lookup, ("command_result",))
            if not (isinstance(checked, Accepted) and checked.event["data"].get("command_id") == cid):
                continue
            data = checked.event["data"]
            EventStore(engine).command_result(data, time.time())
            report = {"ok": data["ok"], "result": data.get("result") or {}, "error": data.get("error")}
            out["reports"].append(report)
            if on_report is not None:
                on_report(report)
            if not report["ok"] or report["result"].get("state") in FINAL_STATES:
                out["result"] = report
                break
        if wait and "result" not in out:
            out["result"] = {"ok": False, "error": f"no final answer within {wait:g} s"}
        return json.loads(json.dumps(out))


def click_command(db_option: Callable, broker_option: Callable, engine: Callable[[str], Engine],
                  actor: Callable[[], str], creds: Callable[[], tuple[str | None, str | None]]) -> Any:
    """`borderpost central command update`, built with the agency CLI's own options and helpers."""
    import click

    from central.commands import KeyError_, load_key
    from central.sender import SendError
    from edge.cli._common import EXIT_FAIL, EXIT_USAGE, echo_json, fail

    @click.command("update", help="Ask POST/DEVICE to fetch the system bundle at --url (its SHA-256 checked) over "
                                  "its mutual-TLS identity and install it into its other slot; follow its reports.")
    @db_option
    @broker_option
    @click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Agency command key.")
    @click.option("--url", required=True, help="https:// URL the device fetches the bundle from.")
    @click.option("--sha256", "digest", default=None, help="The bundle's SHA-256 (hex).")
    @click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                  default=None, help="The bundle file the URL serves: its SHA-256 and size are computed.")
    @click.option("--wait", default=1800.0, show_default=True, help="Seconds to follow the reports (0: don't).")
    @click.argument("target")
    def update(db_url: str, broker_url: str, ca_file: Path | None, prefix: str, key_path: Path, url: str,
               digest: str | None, bundle_path: Path | None, wait: float, target: str) -> None:
        post, _, device = target.partition("/")
        if not post or not device:
            fail("target must be POST/DEVICE")
        size = None
        if bundle_path is not None:
            computed, size = bundle_digest(bundle_path)
            if digest and digest.lower() != computed:
                fail(f"--sha256 does not match {bundle_path} ({computed})")
            digest = computed
        if not digest:
            fail("give --sha256 or --bundle")
        try:
            args = update_args(url, digest, size)
            key = load_key(key_path)
        except (ValueError, KeyError_) as exc:
            fail(str(exc), EXIT_USAGE)
        user, password = creds()
        try:
            result = send_update(engine(db_url), broker_url, key, prefix, post, device, args, actor=actor(),
                                 wait=wait, ca_file=ca_file, username=user, password=password,
                                 on_report=lambda r: click.echo(json.dumps(r), err=True))
        except SendError as exc:
            fail(str(exc), EXIT_FAIL)
        echo_json(result)
        if wait and not (result.get("result") or {}).get("ok"):
            sys.exit(EXIT_FAIL)

    return update
