"""Alert lists over MQTT: the agency publishes bundles on retained topics, the appliance assembles and applies.

Topics (retained, QoS 1; `<prefix>` is `[broker] topic_prefix`, default borderpost/v1):
    <prefix>/_alerts/snapshot/manifest          the latest full list's signed header
    <prefix>/_alerts/snapshot/chunk/<i>         its body, in chunks that fit the maximum packet size
    <prefix>/_alerts/delta/<version>/manifest   each delta since that snapshot, likewise
    <prefix>/_alerts/delta/<version>/chunk/<i>
The leading underscore keeps the level apart from post ids (which start with a letter or digit). The
appliance subscribes to `<prefix>/_alerts/#` (read-only in the broker's ACL).

The uplink calls `AlertSync.subscription` on connect and `AlertSync.handle(topic, payload)` for every message
under it (from paho's thread: it only queues); the apply runs in this module's own worker thread so a large
list never stalls delivery of crossing events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.alerts.bundle import Assembler, BundleError, chunk_messages, read_header, subscription
from edge.alerts.db import AlertDB, Applied
from edge.alerts.entries import ListError

log = logging.getLogger(__name__)


class AlertSync:
    """Assembles retained alert-list messages and applies each whole bundle (verified) to the database."""

    def __init__(self, db: AlertDB, prefix: str, on_applied: Callable[[Applied], None] | None = None) -> None:
        self.db = db
        self.prefix = prefix
        self.on_applied = on_applied
        self.assembler = Assembler(current=self._current)
        self.last_error: str | None = None
        self.applied: list[Applied] = []
        self._version: int | None = db.version()
        self._queue: queue.SimpleQueue[tuple[str, bytes] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="alerts-sync", daemon=True)
        self._thread.start()

    @property
    def subscription(self) -> str:
        return subscription(self.prefix)

    def wants(self, topic: str) -> bool:
        return topic.startswith(f"{self.prefix}/_alerts/")

    def _current(self) -> int | None:
        return self._version

    def handle(self, topic: str, payload: bytes) -> None:
        """One message under the subscription (any thread; returns at once)."""
        self._queue.put((topic, bytes(payload)))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.feed(*item)
            except Exception:   # a worker that dies would silently stop every later list
                log.exception("alert list: unexpected error")

    def feed(self, topic: str, payload: bytes) -> Applied | None:
        """Assemble (and apply when whole) in the calling thread; refusals are logged with the reason."""
        try:
            whole = self.assembler.feed(topic, payload)
        except BundleError as exc:
            self._refused(f"{topic}: {exc}")
            return None
        if whole is None:
            return None
        try:
            applied = self.db.apply_bundle(whole, source="mqtt")
        except (BundleError, ListError) as exc:
            self._refused(str(exc))
            return None
        self._version = applied.version
        self.last_error = None
        self.applied.append(applied)
        log.info("alert list: applied %s version %d (%d entries) in %.1f s", applied.kind, applied.version,
                 applied.entries, applied.seconds)
        if self.on_applied is not None:
            self.on_applied(applied)
        return applied

    def _refused(self, reason: str) -> None:
        self.last_error = reason
        log.warning("alert list refused: %s", reason)


def sync_from_config(cfg: Any) -> AlertSync | None:
    """The uplink's alert-list receiver: None when the post has no alert-list key (or it cannot be used: logged,
    so a broken key file never stops the delivery of crossing events)."""
    if cfg.keys.alert_list_public_key is None:
        return None
    from edge.alerts.check import open_db
    from edge.alerts.db import AlertDBError

    try:
        return AlertSync(open_db(cfg), cfg.broker.topic_prefix)
    except (AlertDBError, ValueError) as exc:
        log.error("alert lists are not received: %s", exc)
        return None


# ---------------------------------------------------------------- the agency side
def publish_bundle(client: mqtt.Client, prefix: str, bundle: bytes, *, chunk_bytes: int | None = None,
                   timeout: float = 60.0) -> int:
    """Publish a signed bundle on its retained topics through a connected paho client (chunks first, the
    manifest last); returns the number of messages. Raises RuntimeError when the broker does not take one."""
    kwargs = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    messages = chunk_messages(bundle, prefix, **kwargs)
    ordered = messages[1:] + messages[:1]
    infos = [client.publish(topic, payload, qos=1, retain=True) for topic, payload in ordered]
    deadline = time.monotonic() + timeout
    for info in infos:
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        if not info.is_published():
            raise RuntimeError("the broker did not acknowledge the list in time")
    return len(ordered)


def clear_delta(client: mqtt.Client, prefix: str, version: int, chunks: int) -> None:
    """Remove a delta's retained messages (after a newer snapshot makes it useless)."""
    root = f"{prefix}/_alerts/delta/{version}"
    for topic in [f"{root}/manifest", *(f"{root}/chunk/{i}" for i in range(chunks))]:
        client.publish(topic, b"", qos=1, retain=True)


def publish_list(host: str, port: int, prefix: str, bundles: Sequence[bytes], *, client_id: str = "agency-alerts",
                 tls: dict[str, Any] | None = None, auth: tuple[str, str] | None = None,
                 chunk_bytes: int | None = None) -> int:
    """Connect, publish each bundle (e.g. a snapshot and its deltas) retained, disconnect. For central/."""
    for b in bundles:
        read_header(b)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if tls:
        client.tls_set(**tls)
    if auth:
        client.username_pw_set(*auth)
    client.max_inflight_messages_set(0)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        return sum(publish_bundle(client, prefix, b, chunk_bytes=chunk_bytes) for b in bundles)
    finally:
        client.disconnect()
        client.loop_stop()
