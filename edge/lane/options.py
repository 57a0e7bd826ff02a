"""The lane's tunables: the post's `[ui]` settings, and the limits on requests and memory kept in code."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config import UI
from edge.lane.session import Timing


@dataclass
class Options:
    """Tunables of the lane and its UIs (`from_config`); tests shorten the clocks."""

    timing: Timing = field(default_factory=Timing)
    retries: int = 2
    face_attempt_s: float = 8.0
    finger_attempt_s: float = 10.0
    officer_idle_s: float = 300.0
    officer_idle_warn_s: float = 60.0
    max_failures: int = 5
    lockout_s: float = 300.0
    secure_cookies: bool = False         # set when served over HTTPS (behind a TLS proxy)
    max_body_bytes: int = 64 * 1024
    max_streams_per_client: int = 3
    max_streams: int = 64
    max_kiosk_screens: int = 8          # kiosk browser sessions kept; the least recently used is dropped
    queue_max_age_s: float = 12 * 3600  # a transaction no officer opened is recorded as an undecided hand-over
    max_image_sets: int = 64            # transactions whose images are kept in memory (oldest dropped)

    @classmethod
    def from_config(cls, ui: UI) -> Options:
        """The post's `[ui]` settings; the limits on requests and memory stay in code."""
        return cls(
            timing=Timing(language=ui.language_timeout_s, document=ui.document_timeout_s, face=ui.face_timeout_s,
                          fingers=ui.fingers_timeout_s, result=ui.result_screen_s, warn_before=ui.warn_before_s),
            retries=ui.retries, face_attempt_s=ui.face_attempt_s, finger_attempt_s=ui.finger_attempt_s,
            officer_idle_s=ui.officer_idle_s, officer_idle_warn_s=ui.officer_idle_warn_s,
            max_failures=ui.max_failures, lockout_s=ui.lockout_s, secure_cookies=ui.secure_cookies,
            queue_max_age_s=ui.queue_max_age_s,
        )
