"""Send one signed command from the command line and (optionally) wait for the device's signed answer."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from central import commands
from central.ingest import new_client
from central.registry import RegistryCache
from central.store import EventStore
from central.verify import Accepted, check_signed


class SendError(Exception):
    pass


@contextmanager
def broker_session(broker_url: str, purpose: str, *, ca_file: Path | None = None, username: str | None = None,
                   password: str | None = None) -> Iterator[tuple[Any, queue.Queue[tuple[str, bytes]]]]:
    """A paho client connected to the broker (SendError if not) and the queue its messages land on."""
    client, host, port = new_client(broker_url, f"central-{purpose}-{time.time_ns()}", ca_file=ca_file,
                                    username=username, password=password)
    answers: queue.Queue[tuple[str, bytes]] = queue.Queue()
    connected: queue.Queue[bool] = queue.Queue()
    client.on_connect = lambda c, u, f, rc, p: connected.put(not rc.is_failure)
    client.on_message = lambda c, u, m: answers.put((m.topic, m.payload))
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise SendError(f"cannot reach broker {host}:{port}: {exc}") from None
    client.loop_start()
    try:
        try:
            accepted = connected.get(timeout=10)
        except queue.Empty:
            raise SendError("no answer from the broker to our connection") from None
        if not accepted:
            raise SendError("the broker refused the connection")
        yield client, answers
    finally:
        client.disconnect()
        client.loop_stop()


def send_command(engine: Engine, broker_url: str, key: Ed25519PrivateKey, prefix: str, post: str, device: str,
                 name: str, args: dict[str, Any], *, actor: str, wait: float = 10.0, ca_file: Path | None = None,
                 username: str | None = None, password: str | None = None) -> dict[str, Any]:
    with broker_session(broker_url, "cmd", ca_file=ca_file, username=username, password=password) as (client, answers):
        result_topic = f"{commands.topic(prefix, post, device, name)}/result"
        if wait:
            client.subscribe(result_topic, qos=1)
        cid, payload = commands.issue(engine, key, post, device, name, args, actor)
        info = client.publish(commands.topic(prefix, post, device, name), payload, qos=1)
        info.wait_for_publish(10)
        out: dict[str, Any] = {"command_id": cid, "name": name, "target": f"{post}/{device}", "sent": True}
        deadline = time.monotonic() + wait
        lookup = RegistryCache(engine)
        while wait and time.monotonic() < deadline:
            try:
                topic, body = answers.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            checked = check_signed(topic, body, prefix, lookup, ("command_result",))
            if isinstance(checked, Accepted) and checked.event["data"].get("command_id") == cid:
                data = checked.event["data"]
                EventStore(engine).command_result(data, time.time())
                out["result"] = {"ok": data["ok"], "result": data.get("result"), "error": data.get("error")}
                break
        if wait and "result" not in out:
            out["result"] = {"ok": False, "error": f"no signed answer within {wait:g} s"}
        return json.loads(json.dumps(out))
