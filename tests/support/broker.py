"""A real mosquitto for tests and benchmarks: own port, own config, own directory; kill and restart at will."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


@dataclass
class Mosquitto:
    directory: Path
    port: int = field(default_factory=free_port)
    persistence: bool = True
    extra: Iterable[str] = ()
    max_queued: int = 0     # per-client queue (0: unlimited; mosquitto's own default is 1000)
    config: Path | None = None  # a generated mosquitto.conf to run instead (its listener must use `port`)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        tls = self.config is not None or any(line.startswith("certfile") for line in self.extra)
        scheme = "mqtts" if tls else "mqtt"
        return f"{scheme}://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.config is not None:  # as generated, plus what a test run needs (root, its own log)
            conf = self.directory / "mosquitto.conf"
            conf.write_text(self.config.read_text() + f"\nuser root\nlog_dest file {self.directory}/mosquitto.log\n"
                            + "".join(line + "\n" for line in self.extra))
            return conf
        extra = list(self.extra)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "user root",
            "set_tcp_nodelay true",
            "max_inflight_messages 0",
            f"max_queued_messages {self.max_queued}",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.directory}/",
            "autosave_interval 1",
            f"log_dest file {self.directory}/mosquitto.log",
        ]
        if not any(e.startswith("allow_anonymous") for e in extra):
            lines.append("allow_anonymous true")
        conf = self.directory / "mosquitto.conf"
        conf.write_text("\n".join(lines + extra) + "\n")
        return conf

    def start(self, wait: float = 10.0) -> Mosquitto:
        exe = mosquitto_path()
        if exe is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        conf = self.write_config()
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Collector:
    """A subscriber that records every message it gets (persistent v3.1.1 session: survives broker restarts)."""

    def __init__(self, port: int, topic: str, client_id: str = "test-collector", tls: dict | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.topic = topic
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        if tls:
            self.client.tls_set(**tls)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1.0)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("collector could not connect")

    def _on_connect(self, client, userdata, flags, rc, props) -> None:
        client.subscribe(self.topic, qos=1)
        self.connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def payloads(self, suffix: str = "") -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
