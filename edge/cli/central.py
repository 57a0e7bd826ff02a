"""`borderpost central ...`: the agency side (package `central`, extra `[central]`): ingest, registry, stats, fleet."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import click

from edge.cli._common import EXIT_FAIL, EXIT_USAGE, echo_json, fail

try:
    import sqlalchemy  # noqa: F401
except ImportError as exc:  # the lazy group shows this subcommand as unavailable, with the reason
    raise ImportError(f"{exc}; install the agency side with: pip install 'borderpost[central]'") from None

from central.update_command import click_command as update_command  # `command update`

DB_ENV = "BORDERPOST_CENTRAL_DB"
BROKER_ENV = "BORDERPOST_CENTRAL_BROKER"


def db_option(f):  # type: ignore[no-untyped-def]
    return click.option("--db", "db_url", envvar=DB_ENV, required=True,
                        help=f"sqlite:///PATH or postgresql://USER@HOST:PORT/DB (or ${DB_ENV}).")(f)


def broker_option(f):  # type: ignore[no-untyped-def]
    f = click.option("--prefix", default="borderpost/v1", show_default=True, help="Topic prefix.")(f)
    f = click.option("--ca-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="CA for mqtts://.")(f)
    return click.option("--broker", "broker_url", envvar=BROKER_ENV, required=True,
                        help=f"mqtt://HOST:PORT or mqtts://HOST:PORT (or ${BROKER_ENV}).")(f)


def _engine(url: str):  # type: ignore[no-untyped-def]
    from central.db import DatabaseError, open_db

    try:
        return open_db(url)
    except DatabaseError as exc:
        fail(str(exc), EXIT_USAGE)


def _actor() -> str:
    return os.environ.get("BORDERPOST_CENTRAL_ACTOR") or os.environ.get("USER") or "operator"


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{name} must be a date YYYY-MM-DD, not {value[:40]!r}")


def _broker_creds() -> tuple[str | None, str | None]:
    return os.environ.get("BORDERPOST_CENTRAL_BROKER_USERNAME"), os.environ.get("BORDERPOST_CENTRAL_BROKER_PASSWORD")


@click.group("central")
def cli() -> None:
    """The agency side: verify and store every post's events, count them, steer the fleet."""


@cli.command("migrate")
@db_option
def migrate_cmd(db_url: str) -> None:
    """Create or update the database schema (every other command does this too)."""
    from central.db import current_version

    engine = _engine(db_url)
    click.echo(f"schema version {current_version(engine)}")


@cli.command("serve")
@db_option
@broker_option
@click.option("--group", default="central", show_default=True, help="Shared-subscription group.")
@click.option("--client-id", default="central-ingest-1", show_default=True,
              help="Unique per ingest process; the same id after a restart resumes its session.")
@click.option("--command-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Agency command key (Ed25519 PEM): without it, gaps are shown but no resend is sent.")
@click.option("--gap-grace", default=30.0, show_default=True, help="Seconds a gap waits before a resend.")
@click.option("--resend-every", default=300.0, show_default=True, help="Seconds between resends of an open gap.")
@click.option("--latency-log", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append 'event-time commit-time' per stored event (benchmarks).")
def serve(db_url: str, broker_url: str, ca_file: Path | None, prefix: str, group: str, client_id: str,
          command_key: Path | None, gap_grace: float, resend_every: float, latency_log: Path | None) -> None:
    """Ingest: subscribe (shared), verify, store, acknowledge after commit; resend for gaps."""
    from central.commands import KeyError_, load_key
    from central.ingest import BrokerURLError, Ingest, Options, summary

    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    try:
        key = load_key(command_key) if command_key else None
    except KeyError_ as exc:
        fail(str(exc))
    engine = _engine(db_url)
    user, password = _broker_creds()
    try:
        ingest = Ingest(engine, broker_url, Options(prefix=prefix, group=group, client_id=client_id, command_key=key,
                                                    gap_grace_s=gap_grace, resend_every_s=resend_every,
                                                    latency_log=latency_log),
                        ca_file=ca_file, username=user, password=password)
    except BrokerURLError as exc:
        fail(str(exc))
    from edge import service

    stop = threading.Event()
    service.stop_on_signals(stop)
    ready = threading.Event()
    threading.Thread(target=lambda: (ready.wait(), click.echo("central ingest ready", err=True)),
                     daemon=True).start()
    ingest.run(stop, ready)
    click.echo(summary(ingest.counters), err=True)


@cli.command("enroll")
@db_option
@click.argument("source", default="-")
def enroll(db_url: str, source: str) -> None:
    """Enrol a device: SOURCE is '-' (the JSON of `borderpost identity show --json` on stdin), a JSON file, or a
    provisioning bundle directory (post and device now, key on a later enrolment)."""
    from central.registry import EnrolError, enrol, parse_bundle, parse_identity

    try:
        if source == "-":
            e = parse_identity(sys.stdin.read())
        elif Path(source).is_dir():
            e = parse_bundle(Path(source))
        else:
            e = parse_identity(Path(source).read_text(encoding="utf-8"))
    except EnrolError as exc:
        fail(f"enroll: {exc}")
    except OSError as exc:
        fail(f"enroll: {source}: {exc.strerror or exc}")
    click.echo(enrol(_engine(db_url), e, _actor()))


@cli.command("revoke")
@db_option
@click.argument("target")
@click.option("--reason", default="", help="Recorded in the audit log.")
def revoke(db_url: str, target: str, reason: str) -> None:
    """Revoke POST/DEVICE: its events are quarantined from now on."""
    from central.registry import revoke as do_revoke

    post, _, device = target.partition("/")
    if not post or not device:
        fail("target must be POST/DEVICE")
    if not do_revoke(_engine(db_url), post, device, _actor(), reason):
        fail(f"{target} is not an enrolled, active device", EXIT_FAIL)
    click.echo(f"{target} revoked")


@cli.command("devices")
@db_option
@click.option("--json", "as_json", is_flag=True)
def devices(db_url: str, as_json: bool) -> None:
    """The fleet: every device, its status, last seen, version, queue, alert list, health and gaps."""
    from central.stats import fleet

    rows = fleet(_engine(db_url))
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['post']}/{r['device']}  {r['state']}  {r['status']}  seen {r['last_seen_s_ago']} s ago  "
                   f"v{r['version']}  queue {r['queue_depth']}  health {r['health']}  gaps {r['gaps']}")


@cli.command("stats")
@db_option
@click.option("--json", "as_json", is_flag=True)
def stats_cmd(db_url: str, as_json: bool) -> None:
    """Events stored, quarantined, devices, open gaps, events by post."""
    from central.stats import summary

    s = summary(_engine(db_url))
    if as_json:
        echo_json(s)
    else:
        click.echo(f"{s['events']} events, {s['quarantined']} quarantined, {s['devices']} devices, "
                   f"{s['gaps']} open gaps")


@cli.command("quarantine")
@db_option
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def quarantine_cmd(db_url: str, limit: int, as_json: bool) -> None:
    """What was refused, and why (payloads are kept in the database, not shown)."""
    import sqlalchemy as sa

    from central import db

    q = db.quarantine
    with _engine(db_url).connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(q.c.id, q.c.received_at, q.c.topic, q.c.event_id,
                                                        q.c.reason_code, q.c.reason)
                                              .order_by(q.c.id.desc()).limit(limit)).mappings()]
    if as_json:
        echo_json(rows)
    for r in [] if as_json else rows:
        click.echo(f"{r['id']}  {r['reason_code']}  {r['topic']}  {r['event_id']}  {r['reason']}")


@cli.command("report")
@db_option
@click.option("--from", "frm", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "to", required=True, help="Last day (YYYY-MM-DD), inclusive.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (required for parquet; CSV goes to stdout without it).")
def report_cmd(db_url: str, frm: str, to: str, fmt: str, output: Path | None) -> None:
    """Crossings by day, post, direction, nationality, sex, age band and outcome; counts under 5 hidden."""
    from central import report

    start, end = _date(frm, "--from"), _date(to, "--to")
    if end < start:
        fail("--to is before --from")
    data = report.rows(_engine(db_url), start, end)
    if fmt == "parquet":
        if output is None:
            fail("--format parquet needs --output FILE")
        report.write_parquet(data, output)
        click.echo(f"{len(data)} rows written to {output}", err=True)
    elif output is None:
        click.echo(report.to_csv(data), nl=False)
    else:
        output.write_text(report.to_csv(data), encoding="utf-8")
        click.echo(f"{len(data)} rows written to {output}", err=True)


@cli.group("keys")
def keys() -> None:
    """The agency's command key (private half stays here; the public half goes into every appliance's config)."""


@keys.command("init")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keys_init(path: Path) -> None:
    """Create PATH (0600) and PATH-without-suffix.pub.pem."""
    from central.commands import KeyError_, create_key

    try:
        priv, pub = create_key(path)
    except (KeyError_, OSError) as exc:
        fail(str(exc))
    click.echo(f"agency command key {priv}; give appliances {pub} as keys.agency_command_public_key")


def _send(db_url: str, broker_url: str, ca_file: Path | None, prefix: str, key_path: Path, target: str, name: str,
          args: dict[str, Any], wait: float) -> None:
    from central.commands import KeyError_, load_key
    from central.sender import SendError, send_command

    post, _, device = target.partition("/")
    if not post or not device:
        fail("target must be POST/DEVICE")
    try:
        key = load_key(key_path)
    except KeyError_ as exc:
        fail(str(exc))
    user, password = _broker_creds()
    try:
        result = send_command(_engine(db_url), broker_url, key, prefix, post, device, name, args, actor=_actor(),
                              wait=wait, ca_file=ca_file, username=user, password=password)
    except SendError as exc:
        fail(str(exc), EXIT_FAIL)
    echo_json(result)
    if wait and not (result.get("result") or {}).get("ok"):
        sys.exit(EXIT_FAIL)


def _command(name: str, doc: str):  # type: ignore[no-untyped-def]
    @click.command(name, help=doc)
    @db_option
    @broker_option
    @click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Agency command key.")
    @click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for the answer (0: don't).")
    @click.argument("target")
    def command(db_url: str, broker_url: str, ca_file: Path | None, prefix: str, key_path: Path, wait: float,
                target: str, **kw: Any) -> None:
        args = {"from_seq": kw["from_seq"]} if name == "resend" else {}
        _send(db_url, broker_url, ca_file, prefix, key_path, target, name, args, wait)

    if name == "resend":
        command = click.option("--from-seq", type=click.IntRange(0), required=True)(command)
    return command


@cli.group("command")
def command_group() -> None:
    """Signed commands to one device (each audited): ping, resend, reload."""


command_group.add_command(_command("ping", "Ask POST/DEVICE to answer."))
command_group.add_command(_command("resend", "Ask POST/DEVICE to publish again from --from-seq on."))
command_group.add_command(_command("reload", "Ask POST/DEVICE to re-read its config file."))
command_group.add_command(update_command(db_option, broker_option, _engine, _actor, _broker_creds))


@cli.group("alerts")
def alerts_group() -> None:
    """Alert lists for the posts."""


@alerts_group.command("publish")
@db_option
@broker_option
@click.argument("bundles", type=click.Path(exists=True, dir_okay=False, path_type=Path), nargs=-1, required=True)
def alerts_publish(db_url: str, broker_url: str, ca_file: Path | None, prefix: str, bundles: tuple[Path, ...]) -> None:
    """Publish signed alert-list bundles (`borderpost alerts sign`) on their retained topics; each audited."""
    from central.alerts import publish

    user, password = _broker_creds()
    try:
        done = publish(_engine(db_url), broker_url, prefix, [b.read_bytes() for b in bundles], actor=_actor(),
                       ca_file=ca_file, username=user, password=password)
    except ValueError as exc:          # a bundle that is not one, or a bad URL
        fail(f"alerts publish: {exc}")
    except (OSError, RuntimeError) as exc:
        fail(f"alerts publish: {exc}", EXIT_FAIL)
    click.echo(done)


@cli.group("users")
def users_group() -> None:
    """Dashboard accounts (read-only analysts)."""


@users_group.command("add")
@db_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (else prompt).")
def users_add(db_url: str, name: str, password_stdin: bool) -> None:
    from central.web_auth import add_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(
        "password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        fail("the password must have at least 10 characters")
    add_user(_engine(db_url), name, password, actor=_actor())
    click.echo(f"analyst {name} added")


@cli.command("dashboard")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True)
@click.option("--secure-cookies/--no-secure-cookies", default=False, help="Set when served over HTTPS.")
def dashboard(db_url: str, host: str, port: int, secure_cookies: bool) -> None:
    """The analysts' web dashboard (sign-in required, read-only)."""
    import uvicorn

    from central.web import create_app

    app = create_app(_engine(db_url), secure_cookies=secure_cookies)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@cli.command("simulate")
@db_option
@broker_option
@click.option("--posts", default=200, show_default=True)
@click.option("--devices", default=2, show_default=True, help="Devices per post.")
@click.option("--rate", default=1.0, show_default=True, help="Crossings per device per minute.")
@click.option("--duration", default=60.0, show_default=True, help="Seconds to run.")
@click.option("--keys-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the devices' keys are kept (default: a temporary directory).")
@click.option("--json", "as_json", is_flag=True)
def simulate_cmd(db_url: str, broker_url: str, ca_file: Path | None, prefix: str, posts: int, devices: int,
                 rate: float, duration: float, keys_dir: Path | None, as_json: bool) -> None:
    """Drive realistic traffic: posts x devices simulated devices, each with its own key, enrolled first."""
    from central.simulate import Fleet, run

    engine = _engine(db_url)
    fleet_ = Fleet.create(posts, devices, keys_dir)
    fleet_.enrol(engine, _actor())
    try:
        result = run(fleet_, broker_url, prefix, rate_per_min=rate, duration_s=duration)
    except OSError as exc:
        fail(f"cannot reach the broker: {exc}", EXIT_FAIL)
    if keys_dir is not None:
        fleet_.save(keys_dir)     # the next run goes on from these sequence numbers
    if as_json:
        echo_json(result)
    else:
        click.echo(json.dumps(result))
