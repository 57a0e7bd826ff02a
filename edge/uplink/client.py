"""The uplink: publish what the store holds, in sequence order, and mark it delivered only on PUBACK.

paho keeps its queue in memory, so the store is the queue: each connection gets a fresh paho client,
publishes pending events from the lowest unacknowledged sequence within an application-side window
(paho's own inflight limit is off: it rescans its set on every PUBACK; the window is also capped by the
broker's Receive Maximum from CONNACK, which paho does not enforce), and hands PUBACKs to this thread
through a queue (paho calls `on_publish` holding its own lock, sometimes before `publish()` has
returned the mid). Because only this thread reads that queue, and only after `publish()` returned and
the mid was recorded, a PUBACK whose mid is not in flight belongs to a message that is not an event
(or to one already settled) and is ignored: mids wrap at 65535, so keeping such acknowledgements for
later would one day acknowledge a different event. A refused publish (reason code >= 0x80) is parked
with its reason, not retried forever. After a disconnect everything unacknowledged is sent again:
duplicates keep their event id. paho's own reconnect is off: a dropped client must never come back
with our client id and take over the session of the client that replaced it.

Commands never compete with delivery: they go to their own inbox (edge/uplink/inbox.py), answered at a
bounded rate; a flood of 10,000 stalled crossings for tens of seconds when commands and PUBACKs shared one queue.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import queue
import socket
import sqlite3
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from drivers.backoff import Backoff
from edge import __version__, clock
from edge.alerts import sync as alerts_sync
from edge.config import Config, ConfigError
from edge.events import envelope
from edge.events.model import Status, Telemetry
from edge.identity import DeviceKey, load_public_key
from edge.store import Pending, Store, StoreError
from edge.uplink import commands
from edge.uplink.inbox import COMMAND_QUEUE, CommandInbox
from edge.uplink.topics import Topics

log = logging.getLogger("borderpost.uplink")

NOT_IN_SEQUENCE = 0  # status/telemetry/results are not stored events: sequence 0 says so
ACK_BATCH = 1000       # PUBACKs written to the store in one transaction at most ...
ACK_FLUSH_S = 0.02     # ... or at least this often
STABLE_AFTER_S = 30.0  # a connection this old, or one that got a PUBACK, resets the reconnect backoff
CONNACK_TIMEOUT_S = 10.0
RESOLVE_TIMEOUT_S = 10.0  # the broker's name, looked up off the main loop (getaddrinfo has no timeout)
MAX_INCOMING_PACKET = 4 * commands.MAX_BYTES  # what the broker may send us: commands (<= 16 KiB), PUBACKs
FETCH_BYTES = 4 * 2**20          # pending events read ahead from the store at most (at least one)
MAX_INFLIGHT_BYTES = 16 * 2**20  # payload bytes published and not yet acknowledged at most (at least one event)
MAX_OTHER_INFLIGHT = 1000  # unacknowledged status/command results tracked (a broker that never acks them)
STORE_BUSY_TIMEOUT_MS = 1000  # the uplink's own wait for another process's write lock (the loop must keep beating)
MAX_UNRECORDED_ACKS = 100_000  # PUBACKs kept in memory while the store is busy, at most (then: reconnect, resend)
BUSY_LOG_EVERY_S = 10.0
SLOWEST_LINK_BPS = 64 * 1024  # events in flight get keepalive + their bytes at this rate to be acknowledged


def publish_packet_size(topic: str, payload: bytes) -> int:
    """Bytes of an MQTT v5 QoS 1 PUBLISH without properties: what a broker's Maximum Packet Size limits."""
    remaining = 2 + len(topic.encode()) + 2 + 1 + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16384 else 3 if remaining < 2097152 else 4
    return 1 + length_bytes + remaining


def _is_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked/busy": another process holds the write lock (transient, not damage)."""
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


def client_id(cfg: Config) -> str:
    """"<post>/<device>": the CN of the device's certificate, which the agency's broker makes the username and
    the client id (edge/broker): the same name everywhere, so the session is the same with or without TLS."""
    return f"{cfg.identity.post}/{cfg.identity.device}"


def certificate_mismatch(cfg: Config) -> str | None:
    """Why the configured client certificate cannot speak for this post and device, or None when it can (or
    there is none). The broker would hold the device to the certificate's name, not the config's."""
    if cfg.broker.cert_file is None:
        return None
    from edge.provision import pki

    try:
        named = pki.identity_of_file(cfg.broker.cert_file)
    except pki.PkiError as exc:
        return str(exc)
    want = (cfg.identity.post, cfg.identity.device)
    if named != want:
        return (f"broker.cert_file {cfg.broker.cert_file} is not this device's certificate: it must name "
                f"CN={'/'.join(want)!r} (post/device); ask the agency for one (borderpost provision)")
    return None


@dataclass
class UplinkState:
    connected: bool = False
    last_error: str = ""
    published: int = 0
    acked: int = 0
    parked: int = 0
    reconnects: int = 0
    rejected_commands: int = 0
    commands_dropped: int = 0
    started: float = field(default_factory=time.time)


class Uplink(CommandInbox):
    def __init__(self, cfg: Config, store: Store, key: DeviceKey, *,
                 reload: Callable[[], Config] | None = None, poll_interval: float = 0.002) -> None:
        self.cfg = cfg
        self.store = store
        self.key = key
        self.reload_config = reload
        self.poll_interval = poll_interval
        self.topics = Topics(cfg.broker.topic_prefix, cfg.identity.post, cfg.identity.device)
        self.state = UplinkState()
        self.backoff = Backoff(initial=0.5, maximum=60.0)
        self._events: queue.SimpleQueue[tuple[str, int, Any]] = queue.SimpleQueue()
        self._init_inbox()
        self._wake = threading.Event()
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._inflight: dict[int, int] = {}       # mid -> seq, events published and not yet acknowledged
        self._other_inflight: set[int] = set()    # mids of QoS 1 status/results not yet acknowledged
        self._inflight_sizes: dict[int, int] = {}  # mid -> payload bytes (paho holds them until the PUBACK)
        self._inflight_bytes = 0
        self._receive_maximum = 65535             # the broker's limit on unacknowledged QoS 1 (CONNACK)
        self._max_packet: int | None = None       # the broker's Maximum Packet Size (CONNACK), if it sets one
        self._stop: threading.Event | None = None
        self._on_iteration: Callable[[], None] | None = None
        self._buffer: deque[Pending] = deque()
        self._last_fetched = 0
        self._need_fetch = True
        self._next_telemetry = 0.0
        self._connected_at = 0.0
        self._acked: list[tuple[int, float]] = []   # (seq, PUBACK time) not yet written to the store
        self._waiting_since: float | None = None    # events in flight and no PUBACK since (monotonic)
        self._next_busy_log = 0.0
        with contextlib.suppress(AttributeError, sqlite3.Error):
            # a write lock held elsewhere cost 10 s (the store's default) of silence per attempt, then a reconnect
            store.conn.execute(f"PRAGMA busy_timeout = {STORE_BUSY_TIMEOUT_MS}")
        self._last_flush = 0.0
        self._command_key = (load_public_key(cfg.keys.agency_command_public_key)
                             if cfg.keys.agency_command_public_key else None)
        self.alerts = alerts_sync.sync_from_config(cfg)   # alert lists on their retained topics (edge.alerts)

    # ------------------------------------------------------------------ messages we build
    def _signed(self, kind: str, data: Any) -> bytes:
        event = envelope.build(kind, data, key=self.key.private, post=self.cfg.identity.post,
                               device=self.cfg.identity.device, sequence=NOT_IN_SEQUENCE,
                               time=clock.utc_now(), clock_synced=clock.clock_synchronised())
        return envelope.encode(event)

    def _status(self, state: str) -> bytes:
        uptime = round(time.time() - self.state.started, 1) if state == "online" else None
        started = clock.rfc3339(datetime.fromtimestamp(self.state.started, UTC))
        return self._signed("status", Status(state=state, version=__version__,
                                             started_at=started, uptime_s=uptime))

    def telemetry(self) -> Telemetry:
        import shutil

        stats, health = self.store.stats(), self.store.health()
        return Telemetry(
            queue_depth=stats.pending, parked=stats.parked, delivered_total=stats.delivered,
            oldest_pending_age_s=stats.oldest_pending_age_s, db_size_mb=round(stats.db_size_bytes / 2**20, 3),
            disk_free_mb=round(shutil.disk_usage(self.store.path.parent).free / 2**20, 1),
            storage_full=health["storage_full"], devices=self.store.device_statuses(),
            commands_dropped=self.state.commands_dropped,
            store_problem=health["problem"], sequence_loss=health["sequence_loss"], **self._alert_list_telemetry(),
        )

    def _alert_list_telemetry(self) -> dict[str, Any]:
        """The applied alert list's version, entries, age and staleness (none when the post takes no list)."""
        if self.alerts is None:
            return {}
        from edge.alerts.check import telemetry

        try:
            return telemetry(self.alerts.db.status(stale_after_hours=self.cfg.alerts.stale_after_hours,
                                                   with_counts=False))
        except sqlite3.Error as exc:
            log.warning("telemetry without the alert list: %s", exc)
            return {}

    # ------------------------------------------------------------------ connection
    def _new_client(self) -> mqtt.Client:
        b = self.cfg.broker
        gen = self._generation
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id(self.cfg), protocol=mqtt.MQTTv5,
                             reconnect_on_failure=False,   # we reconnect, with a fresh client (docstring)
                             manual_ack=True)              # a command is acknowledged once answered
        client.max_inflight_messages_set(0)       # our own window governs (see module docstring)
        client.max_queued_messages_set(0)
        if b.tls:
            client.tls_set(ca_certs=str(b.ca_file) if b.ca_file else None,
                           certfile=str(b.cert_file) if b.cert_file else None,
                           keyfile=str(b.key_file) if b.key_file else None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        creds = b.credentials()
        if creds:
            client.username_pw_set(*creds)
        client.will_set(self.topics.status, self._status("offline"), qos=1, retain=True)
        client.on_connect = lambda c, u, f, rc, p: self._events.put(("connect", gen, (rc, p)))
        client.on_disconnect = lambda c, u, f, rc, p: self._post(("disconnect", gen, rc))
        client.on_publish = lambda c, u, mid, rc, p: self._post(("puback", gen, (mid, rc, time.time())))
        client.on_message = lambda c, u, msg: (self._hand_alert_list(c, msg) if self.alerts and
                                               self.alerts.wants(msg.topic) else self._queue_command(c, gen, msg))
        return client

    def _hand_alert_list(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        """In paho's thread: an alert-list message goes to edge.alerts (it queues; its own thread applies)."""
        assert self.alerts is not None
        self.alerts.handle(msg.topic, msg.payload)
        if msg.qos > 0:
            with contextlib.suppress(Exception):
                client.ack(msg.mid, msg.qos)

    def _post(self, item: tuple[str, int, Any]) -> None:
        self._events.put(item)
        self._wake.set()

    @staticmethod
    def _stop_client(client: mqtt.Client) -> None:
        """Disconnect first (paho's thread then ends at once, even with unacknowledged messages), then join it."""
        with contextlib.suppress(Exception):  # the socket may already be gone
            client.disconnect()
        client.loop_stop()

    def _resolve(self, host: str, port: int) -> str | None:
        """Look the broker's name up in a helper thread, keeping the heartbeat and honouring stop: None when it
        resolves (paho's own lookup then answers at once from the same resolver), "" when stopped, else why not."""
        try:
            ipaddress.ip_address(host)
            return None
        except ValueError:
            pass
        outcome: dict[str, Any] = {}

        def lookup() -> None:
            try:
                socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                outcome["error"] = exc

        t = threading.Thread(target=lookup, name="uplink-resolve", daemon=True)  # left behind if it never returns
        t.start()
        deadline = time.monotonic() + RESOLVE_TIMEOUT_S
        while t.is_alive() and time.monotonic() < deadline:
            if self._stop is not None and self._stop.is_set():
                return ""
            if self._on_iteration is not None:
                self._on_iteration()
            t.join(0.1)
        if t.is_alive():
            return f"cannot resolve broker {host}: no answer within {RESOLVE_TIMEOUT_S:.0f} s"
        if "error" in outcome:
            return f"cannot resolve broker {host}: {outcome['error']}"
        return None

    def _connect(self) -> bool:
        b = self.cfg.broker
        self._generation += 1
        try:
            client = self._new_client()
        except (OSError, ValueError, ConfigError) as exc:  # e.g. the credentials file or a TLS file went missing
            self._connection_failed(f"cannot set up the connection to {b.host}:{b.port}: {exc}")
            return False
        unresolved = self._resolve(b.host, b.port)
        if unresolved is not None:
            if unresolved:
                self._connection_failed(unresolved)
            return False
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = b.session_expiry_s
        props.MaximumPacketSize = MAX_INCOMING_PACKET  # the broker drops bigger commands instead of sending them
        props.ReceiveMaximum = COMMAND_QUEUE           # a command flood waits at the broker, not in our socket
        try:
            client.connect(b.host, b.port, keepalive=b.keepalive, clean_start=False, properties=props)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._connection_failed(f"cannot reach broker {b.host}:{b.port}: {exc}")
            return False
        client.loop_start()
        deadline = time.monotonic() + CONNACK_TIMEOUT_S
        connack_props = None
        while time.monotonic() < deadline:
            if self._stop is not None and self._stop.is_set():
                self._stop_client(client)
                return False
            if self._on_iteration is not None:
                self._on_iteration()  # waiting for a CONNACK is not a hang: keep the watchdog fed
            try:
                kind, gen, data = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            if gen != self._generation:
                continue
            if kind == "connect":
                rc, connack_props = data
                if rc.is_failure:
                    self._stop_client(client)
                    self._connection_failed(f"broker refused the connection: {rc}")
                    return False
                break
            if kind == "disconnect":
                self._stop_client(client)
                self._connection_failed(f"connection closed during handshake: {data}")
                return False
        else:
            self._stop_client(client)
            self._connection_failed(f"no CONNACK from broker within {CONNACK_TIMEOUT_S:.0f} s")
            return False
        self._receive_maximum = getattr(connack_props, "ReceiveMaximum", None) or 65535
        self._max_packet = getattr(connack_props, "MaximumPacketSize", None) or None
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls
        self._client = client
        self.state.connected = True
        self.state.last_error = ""
        self._connected_at = time.monotonic()  # the backoff resets once the connection proves itself
        self._restart_from_store()
        self._publish_other(self.topics.status, self._status("online"), retain=True)
        client.subscribe(self.topics.commands, qos=1)
        if self.alerts is not None:
            client.subscribe(self.alerts.subscription, qos=1)
        log.info("connected to %s:%s", b.host, b.port)
        return True

    def _connection_failed(self, reason: str) -> None:
        delay = self.backoff.failed()
        self.state.connected = False
        self.state.last_error = reason
        try:
            pending: int | str = self.store.stats().pending
        except (StoreError, sqlite3.Error):
            pending = "unknown"
        log.warning("%s; %s events wait in the store; retrying in %.1f s", reason, pending, delay)

    def _drop_connection(self, reason: str) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._stop_client(client)
        self.state.connected = False
        self.state.reconnects += 1
        self._connection_failed(f"connection lost: {reason}")

    def _restart_from_store(self) -> None:
        """After (re)connecting: everything not acknowledged is sent again, in sequence order."""
        self._waiting_since = None
        self._inflight.clear()
        self._inflight_sizes.clear()
        self._inflight_bytes = 0
        self._other_inflight.clear()
        self._buffer.clear()
        self._last_fetched = 0
        self._need_fetch = True

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event, on_iteration: Callable[[], None] | None = None) -> None:
        self._stop, self._on_iteration = stop, on_iteration
        try:
            while not stop.is_set():
                if self._client is None:
                    if self.backoff.ready():
                        self._connect()
                    else:
                        stop.wait(min(0.2, self.poll_interval * 50))
                    if on_iteration:
                        on_iteration()
                    continue
                self._iterate()
                if on_iteration:
                    on_iteration()
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        finally:
            self.close()

    def _iterate(self) -> None:
        """One pass while connected. A store that cannot be written (busy, disk full) costs a reconnect, not the
        process: acknowledgements not yet recorded are dropped, so those events are only sent again."""
        try:
            self._handle_events()
            if self._client is not None:
                self._check_progress()
            if self._client is not None:
                self._fill_window()
                self._handle_commands()
                self._maybe_telemetry()
        except (StoreError, sqlite3.Error) as exc:
            self._acked.clear()
            log.error("store error while delivering: %s", exc)
            self._drop_connection(f"store error: {exc}")

    def close(self) -> None:
        try:
            self._handle_events()
            self._flush_acks()
        except (StoreError, sqlite3.Error) as exc:
            log.error("store error at close, unrecorded PUBACKs will be sent again: %s", exc)
        if self._client is not None:
            client, self._client = self._client, None
            client.publish(self.topics.status, self._status("offline"), qos=1, retain=True)
            client.disconnect()
            client.loop_stop()
        self.state.connected = False

    def _handle_events(self) -> None:
        while True:
            try:
                kind, gen, data = self._events.get_nowait()
            except queue.Empty:
                break
            if gen != self._generation:
                continue  # from a connection we already dropped
            if kind == "puback":
                self._on_puback(*data)
            elif kind == "disconnect":
                self._flush_acks()
                self._drop_connection(str(data))
        if len(self._acked) >= ACK_BATCH or (self._acked and time.monotonic() - self._last_flush > ACK_FLUSH_S):
            self._flush_acks()
        if self._client is not None and self.backoff.attempts and \
                time.monotonic() - self._connected_at > STABLE_AFTER_S:
            self.backoff.succeeded()

    def _check_progress(self) -> None:
        """A broker that stops acknowledging (frozen, its disk full, a half-open TCP link) would otherwise hold
        the events in flight silently until paho's keepalive gives up, about twice the keepalive later."""
        if self._waiting_since is None or not self._inflight:
            return
        waited = time.monotonic() - self._waiting_since
        limit = self.cfg.broker.keepalive + self._inflight_bytes / SLOWEST_LINK_BPS
        if waited > limit:
            self._flush_acks()
            self._drop_connection(f"no PUBACK for {waited:.0f} s with {len(self._inflight)} events in flight")

    def _flush_acks(self) -> None:
        """Record PUBACKs in the store in one transaction (with each PUBACK's own arrival time)."""
        self._last_flush = time.monotonic()
        if not self._acked:
            return
        seqs, times = zip(*self._acked, strict=True)
        try:
            self.store.mark_delivered(seqs, times)
        except (StoreError, sqlite3.Error) as exc:
            if not _is_busy(exc) or len(self._acked) > MAX_UNRECORDED_ACKS:
                raise
            # another process holds the store: keep the PUBACKs and go on delivering; recorded once it is free
            now = time.monotonic()
            if now >= self._next_busy_log:
                log.warning("store busy (%s): %d PUBACKs wait to be recorded, delivery goes on", exc, len(seqs))
                self._next_busy_log = now + BUSY_LOG_EVERY_S
            return
        self.state.acked += len(seqs)
        self._acked.clear()
        if self._client is not None and self.backoff.attempts:
            self.backoff.succeeded()  # the broker accepts our events: this connection has proved itself

    def _on_puback(self, mid: int, rc: Any, at: float) -> None:
        seq = self._inflight.pop(mid, None)
        self._inflight_bytes -= self._inflight_sizes.pop(mid, 0)
        self._waiting_since = time.monotonic() if self._inflight else None
        if seq is None:
            # not an event (status, command result, QoS 0 telemetry): never kept, the mid will be reused
            self._other_inflight.discard(mid)
            return
        if rc.is_failure:
            self._flush_acks()  # keep the store's order of marks
            if self.store.park(seq, f"broker refused: {rc}"):
                self.state.parked += 1
                log.error("event seq %d refused by broker (%s): parked", seq, rc)
        else:
            self._acked.append((seq, at))

    def _window(self) -> int:
        return max(1, min(self.cfg.broker.inflight_window, self._receive_maximum))

    def _track_other(self, mid: int) -> None:
        if len(self._other_inflight) >= MAX_OTHER_INFLIGHT:
            self._other_inflight.clear()
        self._other_inflight.add(mid)

    def _publish_other(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """A QoS 1 message that is not a stored event: counted against the broker's Receive Maximum until acked."""
        if self._client is None:
            return
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._track_other(info.mid)

    def _fill_window(self) -> None:
        client = self._client
        assert client is not None
        room = self._window() - len(self._inflight) - len(self._other_inflight)
        # large events (sealed biometrics) are bounded by bytes too, read ahead and in flight; one always goes
        while room > 0 and (not self._inflight or self._inflight_bytes < MAX_INFLIGHT_BYTES):
            if not self._buffer:
                if not (self._need_fetch or self.store.changed()):
                    return
                rows = self.store.pending(after_seq=self._last_fetched, limit=max(500, room), max_bytes=FETCH_BYTES)
                self._need_fetch = bool(rows)  # a short read may be the byte budget: look again once drained
                if not rows:
                    return
                self._buffer.extend(rows)
                self._last_fetched = rows[-1].seq
            row = self._buffer.popleft()
            topic = self.topics.of(row.topic)
            size = publish_packet_size(topic, row.payload)
            if self._max_packet is not None and size > self._max_packet:
                # the broker would drop the connection (paho does not check): sent again after every reconnect,
                # it would hold back every later event for good
                self._flush_acks()
                if self.store.park(row.seq, f"too large for the broker: {size} bytes, over its maximum packet "
                                            f"size of {self._max_packet}"):
                    self.state.parked += 1
                    log.error("event seq %d is %d bytes, over the broker's maximum packet size %d: parked",
                              row.seq, size, self._max_packet)
                continue
            info = client.publish(topic, row.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._buffer.appendleft(row)
                self._drop_connection(f"publish failed: {mqtt.error_string(info.rc)}")
                return
            self.state.published += 1
            if not self._inflight:
                self._waiting_since = time.monotonic()
            self._inflight[info.mid] = row.seq
            self._inflight_sizes[info.mid] = len(row.payload)
            self._inflight_bytes += len(row.payload)
            room -= 1

    def _maybe_telemetry(self) -> None:
        now = time.monotonic()
        if now < self._next_telemetry or self._client is None:
            return
        self._next_telemetry = now + self.cfg.broker.telemetry_interval_s
        try:
            payload = self._signed("telemetry", self.telemetry())
        except OSError as exc:  # e.g. the disk cannot be measured: this report is skipped, delivery goes on
            log.warning("telemetry skipped: %s", exc)
            return
        self._client.publish(self.topics.telemetry, payload, qos=0)
