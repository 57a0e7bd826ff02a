"""`central serve`: take events from the broker, verify, store, then acknowledge; send resends for gaps.

Several ingest processes share the work through an MQTT v5 shared subscription (`$share/<group>/...`): the
broker gives each event to one of them. Acknowledgements are manual (paho `manual_ack`): a PUBACK leaves only
after the transaction holding the event (or its quarantine record) committed, so killing a process with -9
loses nothing — its persistent session gets the unacknowledged events again. Acknowledgements carry the
connection they came on: after a reconnect the broker re-sends, and an old message id must not acknowledge
a new message. Status is subscribed without sharing (the broker sends retained messages only to plain
subscriptions); every process records it, which is idempotent.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.engine import Engine

from central import commands, db
from central.registry import RegistryCache
from central.rows import parse_time
from central.store import Batch, EventStore
from central.verify import Accepted, Quarantined, check_event, check_signed, parse_topic

log = logging.getLogger("borderpost.central.ingest")

BATCH_MAX = 500
BATCH_WAIT_S = 0.005
RECEIVE_MAXIMUM = 2000        # unacknowledged QoS 1 messages the broker may send us at once
SESSION_EXPIRY_S = 7 * 86400  # the broker keeps our queue while we are down


@dataclass
class Options:
    prefix: str = "borderpost/v1"
    group: str = "central"
    client_id: str = "central-ingest-1"
    command_key: Ed25519PrivateKey | None = None
    gap_grace_s: float = 30.0      # a gap this old gets a resend command ...
    resend_every_s: float = 300.0  # ... and another this long after, until it is filled
    latency_log: Path | None = None


@dataclass
class Counters:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    fleet: int = 0
    resends: int = 0
    db_errors: int = 0
    started: float = field(default_factory=time.time)


@dataclass
class Prepared:
    """One verified batch on its way to the writer: the broker's messages and what to write for them."""

    items: list[tuple[int, str, bytes, int, int, bool]]
    now: float
    batch: Batch = field(default_factory=Batch)
    fleet: dict[tuple[str, str, str], tuple[dict[str, Any], bool]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)


class BrokerURLError(ValueError):
    pass


def broker_address(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise BrokerURLError("broker URL must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT], "
                             f"not {url.split('@')[-1]!r}")
    tls = parts.scheme == "mqtts"
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


def new_client(url: str, client_id: str, *, ca_file: Path | None = None, manual_ack: bool = False,
               username: str | None = None, password: str | None = None) -> tuple[mqtt.Client, str, int]:
    host, port, tls = broker_address(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         manual_ack=manual_ack)
    client.max_inflight_messages_set(0)
    if tls:
        client.tls_set(ca_certs=str(ca_file) if ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
    if username:
        client.username_pw_set(username, password)
    client.reconnect_delay_set(0.2, 10)
    return client, host, port


class Ingest:
    def __init__(self, engine: Engine, broker_url: str, options: Options, *, ca_file: Path | None = None,
                 username: str | None = None, password: str | None = None) -> None:
        self.engine, self.opts = engine, options
        self.store = EventStore(engine)
        self.registry = RegistryCache(engine)
        self.counters = Counters()
        self._queue: queue.Queue[tuple[int, str, bytes, int, int, bool]] = queue.Queue()
        self._prepared: queue.Queue[Prepared] = queue.Queue(maxsize=2)   # verified, waiting for the writer
        self._writer_error: BaseException | None = None
        self._generation = 0
        self._connected = threading.Event()
        self.client, self._host, self._port = new_client(broker_url, options.client_id, ca_file=ca_file,
                                                         manual_ack=True, username=username, password=password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda c, u, f, rc, p: self._connected.clear()
        self.client.on_message = self._on_message
        self._latency = options.latency_log.open("a", buffering=1) if options.latency_log else None
        self._next_resend_check = 0.0

    # ------------------------------------------------------------------ paho's thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection: %s", rc)
            return
        self._generation += 1
        p = self.opts.prefix
        client.subscribe([(f"$share/{self.opts.group}/{p}/+/+/events/#", 1),
                          (f"$share/{self.opts.group}/{p}/+/+/telemetry", 0),
                          (f"$share/{self.opts.group}/{p}/+/+/cmd/+/result", 1),
                          (f"{p}/+/+/status", 1)])
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connected.set()
        log.info("connected to %s:%s as %s", self._host, self._port, self.opts.client_id)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put((self._generation, msg.topic, msg.payload, msg.mid, msg.qos, bool(msg.retain)))

    # ------------------------------------------------------------------ the loop
    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def run(self, stop: threading.Event, ready: threading.Event | None = None) -> None:
        """Two stages: this thread verifies a batch while the writer thread stores and acknowledges the one before
        (libsodium and the database both release the GIL, so checking and committing overlap)."""
        self.connect()
        writer = threading.Thread(target=self._write_loop, args=(stop,), name="central-writer", daemon=True)
        writer.start()
        try:
            if ready is not None:
                self._connected.wait(30)
                ready.set()
            while not stop.is_set():
                items = self._take()
                if items:
                    # the registry is read from the database: while it is down, the batch waits, unacknowledged
                    prepared = self._retry(lambda batch=items: self._check(batch), stop)
                    while prepared is not None and not stop.is_set():
                        try:
                            self._prepared.put(prepared, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                self._maybe_resend()
        finally:
            writer.join(30)
            self.client.disconnect()
            self.client.loop_stop()
            if self._latency:
                self._latency.close()
        if self._writer_error is not None:
            raise self._writer_error

    def _take(self) -> list[tuple[int, str, bytes, int, int, bool]]:
        try:
            items = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(items) < BATCH_MAX:
            try:   # what paho already delivered, without a timed wait per message
                items.append(self._queue.get_nowait())
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    items.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
        return items

    def _check(self, items: list[tuple[int, str, bytes, int, int, bool]]) -> Prepared:
        """Verify and sort one batch; nothing is written or acknowledged here."""
        out = Prepared(items, time.time())
        for _, topic, payload, _, _, retain in items:
            where = parse_topic(topic, self.opts.prefix)
            rest = where[2] if where else ""
            if rest.startswith("events/") or where is None:
                try:
                    checked = check_event(topic, payload, self.opts.prefix, self.registry)
                except sa.exc.DBAPIError:
                    raise
                except Exception as exc:  # a message that trips us must be kept and acknowledged, never re-tried
                    log.exception("verification failed on %s", topic[:120])
                    checked = Quarantined("malformed", f"could not be checked: {type(exc).__name__}")
                if isinstance(checked, Accepted):
                    out.batch.accepted.append((checked, payload.decode(), out.now))
                else:
                    out.batch.quarantined.append((checked, topic, payload, out.now))
                    log.warning("quarantined %s on %s: %s", checked.reason_code, topic[:120], checked.reason)
                continue
            kind = {"status": "status", "telemetry": "telemetry"}.get(rest, "command_result")
            try:
                signed = check_signed(topic, payload, self.opts.prefix, self.registry, (kind,))
            except sa.exc.DBAPIError:
                raise
            except Exception as exc:  # as above: never a message that stops the ingest
                signed = Quarantined("malformed", f"could not be checked: {type(exc).__name__}")
            if isinstance(signed, Quarantined):
                log.info("%s from %s/%s ignored: %s", kind, where[0], where[1], signed.reason)
            elif kind == "command_result":
                out.results.append(signed.event["data"])
            else:
                out.fleet[(signed.post, signed.device, kind)] = (signed.event["data"], not retain)
        self.store.prepare(out.batch)
        return out

    def _write_loop(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    prepared = self._prepared.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._store(prepared, stop)
        except BaseException as exc:   # not a database outage (that is retried): stop, and `run` raises it
            self._writer_error = exc
            stop.set()

    def _store(self, prep: Prepared, stop: threading.Event) -> None:
        """Write one verified batch, then acknowledge its messages (only those of the current connection)."""
        if not self._write(prep.batch, stop):
            return
        now = prep.now
        for (post, device, kind), (data, live) in prep.fleet.items():
            self._retry(lambda p=post, d=device, k=kind, x=data, lv=live:
                        self.store.fleet_update(p, d, k, x, now, live=lv), stop)
            self.counters.fleet += 1
        for data in prep.results:
            self._retry(lambda x=data: self.store.command_result(x, now), stop)
        if stop.is_set():
            return
        generation = self._generation
        for gen, _, _, mid, qos, _ in prep.items:
            if qos > 0 and gen == generation:
                self.client.ack(mid, qos)

    def _write(self, batch: Batch, stop: threading.Event) -> bool:
        """True once the batch is committed (or had nothing to write); False if stopped before that."""
        if not batch.accepted and not batch.quarantined:
            return True
        written = self._retry(lambda: self.store.write(batch), stop)
        if written is None:
            return False
        committed = time.time()
        self.counters.stored += written.stored
        self.counters.duplicates += written.duplicates
        self.counters.quarantined += written.quarantined
        if written.gaps_opened or written.gaps_filled:
            log.info("sequence gaps: %d opened, %d filled", written.gaps_opened, written.gaps_filled)
        if self._latency:
            for a, _, _ in batch.accepted:
                self._latency.write(f"{parse_time(a.event['time']).timestamp():.6f} {committed:.6f}\n")
        return True

    def _retry(self, work, stop: threading.Event):  # type: ignore[no-untyped-def]
        """Run a database step until it commits (the broker keeps the messages meanwhile) or we are stopped."""
        delay = 0.2
        while True:
            try:
                return work()
            except sa.exc.DBAPIError as exc:
                self.counters.db_errors += 1
                log.warning("database unavailable (%s); retrying in %.1f s, nothing acknowledged",
                            str(exc.orig).strip().splitlines()[0] if exc.orig else exc, delay)
            if stop.wait(delay):
                return None
            delay = min(delay * 2, 10.0)

    # ------------------------------------------------------------------ gaps -> resend
    def _maybe_resend(self) -> None:
        now = time.time()
        if now < self._next_resend_check or self.opts.command_key is None or not self._connected.is_set():
            return
        self._next_resend_check = now + min(1.0, self.opts.gap_grace_s / 2)
        try:
            self._send_resends(now)
        except sa.exc.DBAPIError as exc:
            log.warning("resend check skipped: %s", exc.orig)

    def _send_resends(self, now: float) -> None:
        g = db.gaps
        due = sa.and_(g.c.opened_at <= now - self.opts.gap_grace_s,
                      sa.or_(g.c.resend_at.is_(None), g.c.resend_at <= now - self.opts.resend_every_s))
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(g.c.post, g.c.device, sa.func.min(g.c.from_seq))
                                .join(db.devices, sa.and_(db.devices.c.post == g.c.post,
                                                          db.devices.c.device == g.c.device))
                                .where(due, db.devices.c.state == "active")
                                .group_by(g.c.post, g.c.device)).all()
        for post, device, from_seq in rows:
            with self.engine.begin() as conn:   # claim: one ingest process sends it, not each of them
                claimed = conn.execute(g.update().where(g.c.post == post, g.c.device == device, due)
                                       .values(resend_at=now, resends=g.c.resends + 1)).rowcount
            if not claimed:
                continue
            assert self.opts.command_key is not None
            cid, payload = commands.issue(self.engine, self.opts.command_key, post, device, "resend",
                                          {"from_seq": int(from_seq)}, actor="central:gap")
            self.client.publish(commands.topic(self.opts.prefix, post, device, "resend"), payload, qos=1)
            self.counters.resends += 1
            log.info("gap at %s/%s from seq %d: resend sent (command %s)", post, device, from_seq, cid)


def summary(counters: Counters) -> str:
    return json.dumps({k: v for k, v in counters.__dict__.items()})
