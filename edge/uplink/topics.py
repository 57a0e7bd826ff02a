"""The MQTT topic tree (documented in docs/mqtt.md): borderpost/v1/<post>/<device>/..."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str
    post: str
    device: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.post}/{self.device}"

    def of(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    @property
    def status(self) -> str:
        return self.of("status")

    @property
    def telemetry(self) -> str:
        return self.of("telemetry")

    @property
    def commands(self) -> str:
        return self.of("cmd/+")

    def command_name(self, topic: str) -> str | None:
        head = self.of("cmd/")
        if not topic.startswith(head):
            return None
        name = topic[len(head):]
        return name if name and "/" not in name else None

    def command_result(self, name: str) -> str:
        return self.of(f"cmd/{name}/result")
