"""Reconnect pacing shared by every backend: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Call `ready()` before a reconnect attempt; `failed()` after one fails, `succeeded()` after it works."""

    initial: float = 0.2
    maximum: float = 10.0
    factor: float = 2.0
    jitter: bool = True
    attempts: int = 0
    _next_at: float = field(default=0.0, repr=False)

    def delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor ** max(0, self.attempts - 1))
        return random.uniform(0, base) if self.jitter else base

    def ready(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self._next_at

    def failed(self, now: float | None = None) -> float:
        self.attempts += 1
        d = self.delay()
        self._next_at = (time.monotonic() if now is None else now) + d
        return d

    def succeeded(self) -> None:
        self.attempts = 0
        self._next_at = 0.0
