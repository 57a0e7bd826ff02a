"""The uplink's command inbox: commands from the agency answered off the delivery path, at a bounded rate.

Commands never compete with delivery. They wait in their own queue (not the PUBACK queue) and are answered
at a limited rate after each round of PUBACKs and publishes. The broker may send only COMMAND_QUEUE of them
unacknowledged (MQTT v5 Receive Maximum in CONNECT), so a flood stays at the broker instead of filling the
socket ahead of our PUBACKs; while the queue is over half full, the oldest are acknowledged unanswered at a
bounded rate (shed), counted in `commands_dropped` (state, telemetry, a log line every few seconds).
A command is acknowledged (manual PUBACK) only once answered: see docs/mqtt.md.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from edge.config import Config
from edge.events.model import CommandResult
from edge.store import Store, StoreError
from edge.update.job import UpdateJobs
from edge.uplink import commands
from edge.uplink.topics import Topics

log = logging.getLogger("borderpost.uplink")

COMMAND_QUEUE = 64         # commands the broker may send us unacknowledged (our Receive Maximum)
COMMAND_RATE = 20.0        # commands answered per second at most (a burst of COMMAND_RATE at once)
SHED_RATE = 200.0          # commands dropped unanswered per second at most while the queue is over half full
DROP_LOG_EVERY_S = 10.0    # how often a flood of dropped commands is logged


class CommandInbox:
    """Mixed into Uplink: the command half of it (the attributes below are the Uplink's)."""

    cfg: Config
    store: Store
    state: Any
    topics: Topics
    reload_config: Callable[[], Config] | None
    _client: mqtt.Client | None
    _generation: int
    _wake: threading.Event
    _command_key: Any
    _buffer: Any
    _last_fetched: int
    _need_fetch: bool

    def _init_inbox(self) -> None:
        self._commands: queue.Queue[tuple[int, tuple[str, bytes, int, int, bool]]] = queue.Queue(COMMAND_QUEUE)
        self._command_budget = commands.TokenBucket(COMMAND_RATE)
        self._shed_budget = commands.TokenBucket(SHED_RATE)
        self._shed = 0
        self._overflowed = 0
        self._drops_logged = 0
        self._next_drop_log = 0.0
        self._updates = UpdateJobs()   # the `update` command runs in the background; its reports go out here

    def _signed(self, kind: str, data: Any) -> bytes:
        raise NotImplementedError

    def _publish_other(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        raise NotImplementedError

    def _flush_acks(self) -> None:
        raise NotImplementedError

    def _queue_command(self, client: mqtt.Client, gen: int, msg: mqtt.MQTTMessage) -> None:
        """In paho's thread: queue a command for the uplink's loop. A full queue means the broker ignored our Receive
        Maximum: the command is acknowledged and dropped (unacknowledged, it would come back on the next connection)."""
        try:
            self._commands.put_nowait((gen, (msg.topic, msg.payload, msg.mid, msg.qos, bool(msg.dup))))
        except queue.Full:
            self._overflowed += 1   # only paho's thread writes it; the loop adds it to the state
            if msg.qos > 0:
                with contextlib.suppress(Exception):
                    client.ack(msg.mid, msg.qos)
            return
        self._wake.set()


    def _handle_commands(self) -> None:
        """Answer queued commands while the rate allows; shed the oldest while the queue stays over half full."""
        for report in self._updates.reports():
            self._result(report)
        while self._client is not None and not self._commands.empty() and self._command_budget.take():
            item = self._next_command()
            if item is not None:
                self._on_command(*item)
        while self._client is not None and self._commands.qsize() > COMMAND_QUEUE // 2 and self._shed_budget.take():
            item = self._next_command()
            if item is not None:
                self._shed += 1
                _topic, _payload, mid, qos, _dup = item
                if qos > 0:
                    self._client.ack(mid, qos)
        dropped = self.state.commands_dropped = self._shed + self._overflowed
        if dropped != self._drops_logged and time.monotonic() >= self._next_drop_log:
            log.warning("command flood: %d commands dropped unanswered (%d in all since start)",
                        dropped - self._drops_logged, dropped)
            self._drops_logged = dropped
            self._next_drop_log = time.monotonic() + DROP_LOG_EVERY_S

    def _next_command(self) -> tuple[str, bytes, int, int, bool] | None:
        """The oldest queued command of this connection (older ones are unacknowledged: the broker resends them)."""
        while True:
            try:
                gen, data = self._commands.get_nowait()
            except queue.Empty:
                return None
            if gen == self._generation:
                return data

    def _on_command(self, topic: str, payload: bytes, mid: int = 0, qos: int = 0, dup: bool = False) -> None:
        """Answer one command, then acknowledge it (paho's manual ack).

        Acknowledged only once answered: if the uplink dies first, the broker delivers it again from the
        persistent session (with DUP set) and it runs then. A command already answered (its id and signed
        answer are kept) is answered again with the same answer when redelivered, refused as a replay otherwise.
        """
        try:
            self._answer_command(topic, payload, dup)
        finally:
            if self._client is not None and qos > 0:
                self._client.ack(mid, qos)

    def _answer_command(self, topic: str, payload: bytes, dup: bool) -> None:
        name = self.topics.command_name(topic)
        if name is None:
            return
        target = f"{self.cfg.identity.post}/{self.cfg.identity.device}"
        verdict = commands.check(payload, name, target, self._command_key)
        if isinstance(verdict, commands.Command):
            try:
                done, answer = self.store.command_done(verdict.id)
            except (StoreError, sqlite3.Error) as exc:
                # answer, so the agency knows to send it again (with the same id)
                log.warning("command %s (id %.80r) not run, store unavailable: %s", name, verdict.id, exc)
                self._result(CommandResult(command_id=verdict.id, name=name, ok=False,
                                           error="store unavailable, not run: try again"))
                return
            if done and dup and answer is not None:
                log.info("command %s (id %s) delivered again: answered as before, not run twice", name, verdict.id)
                self._publish_other(self.topics.command_result(name), answer)
                return
            if done:
                verdict = commands.Rejection(verdict.id, "command replayed")
        if isinstance(verdict, commands.Rejection):
            self.state.rejected_commands += 1
            # the id is the sender's text (unauthenticated here): quoted and cut, so it cannot forge log lines
            log.warning("command on cmd/%s rejected: %s (id %.80r)", name, verdict.reason, verdict.command_id)
            self._result(CommandResult(command_id=verdict.command_id, name=name, ok=False, error=verdict.reason))
            return
        try:
            outcome = CommandResult(command_id=verdict.id, name=name, ok=True, result=self._execute(verdict))
            log.info("command %s (id %s) done", name, verdict.id)
        except Exception as exc:  # a command that fails is answered; it must never stop delivery
            log.warning("command %s (id %.80r) failed: %s", name, verdict.id, exc)
            outcome = CommandResult(command_id=verdict.id, name=name, ok=False, error=f"failed: {exc}")
        self._result(outcome, remember=True)

    def _execute(self, cmd: commands.Command) -> dict[str, Any]:
        if cmd.name == "ping":
            return {"pong": True, "uptime_s": round(time.time() - self.state.started, 1)}
        if cmd.name == "resend":
            from_seq = cmd.args.get("from_seq")
            if not isinstance(from_seq, int) or isinstance(from_seq, bool) or not 0 <= from_seq < 2**63:
                raise ValueError(f"from_seq must be a whole number from 0, got {from_seq!r:.40}")
            self._flush_acks()  # a PUBACK written after the requeue would take its event out of the resend
            n = self.store.requeue_from(from_seq)
            self._restart_window_from(from_seq)
            return {"requeued": n, "from_seq": from_seq}
        if cmd.name == "reload":
            if self.reload_config is None:
                raise ValueError("this uplink was started without a config file to reload")
            new = self.reload_config()
            self.cfg.broker.telemetry_interval_s = new.broker.telemetry_interval_s
            self.cfg.broker.inflight_window = new.broker.inflight_window
            return {"reloaded": True}
        if cmd.name == "update":
            return self._updates.start(cmd.id, cmd.args, self.cfg)
        raise ValueError(f"unknown command {cmd.name}")

    def _restart_window_from(self, seq: int) -> None:
        self._buffer.clear()
        self._last_fetched = min(self._last_fetched, seq - 1)
        self._need_fetch = True

    def _result(self, result: CommandResult, remember: bool = False) -> None:
        """Sign and send a command's answer; `remember` keeps it with the command's id (before sending, so a
        crash between the two leaves an answer to send again, not a command to run twice)."""
        answer = self._signed("command_result", result)
        if remember:
            try:
                self.store.remember_command(result.command_id, answer)
            except (StoreError, sqlite3.Error) as exc:
                log.warning("command %s (id %s) not remembered (%s): a replay would run it again",
                            result.name, result.command_id, exc)
        self._publish_other(self.topics.command_result(result.name), answer)
