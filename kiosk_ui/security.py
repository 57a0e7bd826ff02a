"""Web sessions per role, single-use CSRF tokens, security headers and a request-body limit.

Sessions are server-side (the cookie holds only a random id) and bound to one role: a kiosk cookie
never reaches the booth or the console, and a booth cookie presented to the console is refused.
Officer and technician sessions end after `idle` seconds without a request they made themselves.
Rejections are logged with the method, route and reason only: never form values or personal data.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("borderpost.ui.security")

Role = Literal["kiosk", "officer", "technician"]
COOKIES: dict[str, str] = {"kiosk": "bp_kiosk", "officer": "bp_booth", "technician": "bp_tech"}
PATHS: dict[str, str] = {"kiosk": "/kiosk", "officer": "/booth", "technician": "/tech"}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), usb=(), serial=()"),
]


def reject(reason: str, method: str, path: str, status: int) -> None:
    """The one place rejections are logged: what and why, never what was sent."""
    log.warning("rejected %s %s -> %d: %s", method, path[:120], status, reason)


@dataclass
class WebSession:
    id: str
    role: str
    user: str | None
    created: float
    last_seen: float
    lang: str = "en"
    tokens: deque[str] = field(default_factory=lambda: deque(maxlen=32))
    streams: int = 0
    prefs: set[str] = field(default_factory=set)        # "large", "contrast"


class WebSessions:
    def __init__(self, idle_s: float, clock: Callable[[], float] = time.monotonic, max_kiosks: int = 8,
                 on_evict: Callable[[str], None] | None = None) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self.max_kiosks = max_kiosks          # kiosk screens have no sign-in: bound what a flood can create
        self.on_evict = on_evict
        self._by_id: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def new(self, role: str, user: str | None = None, lang: str = "en") -> WebSession:
        now = self.clock()
        ws = WebSession(secrets.token_urlsafe(32), role, user, now, now, lang)
        evicted = None
        with self._lock:
            self._expire(now)
            kiosks = [s for s in self._by_id.values() if s.role == "kiosk"]
            if role == "kiosk" and len(kiosks) >= self.max_kiosks:
                oldest = min(kiosks, key=lambda s: s.last_seen)
                del self._by_id[oldest.id]
                evicted = oldest.id
            self._by_id[ws.id] = ws
        if evicted and self.on_evict:
            self.on_evict(evicted)
        return ws

    def _expire(self, now: float) -> None:
        dead = [k for k, s in self._by_id.items() if s.role != "kiosk" and now - s.last_seen > self.idle_s]
        for k in dead:
            del self._by_id[k]

    def lookup(self, sid: str | None, role: str, touch: bool = True) -> tuple[WebSession | None, str]:
        """The session for this cookie and role, or None with why ('missing', 'idle', 'role')."""
        if not sid:
            return None, "missing"
        now = self.clock()
        with self._lock:
            ws = self._by_id.get(sid)
            if ws is None:
                return None, "missing"
            if ws.role != role:
                return None, "role"
            if role != "kiosk" and now - ws.last_seen > self.idle_s:
                del self._by_id[sid]
                return None, "idle"
            if touch:
                ws.last_seen = now
            return ws, "ok"

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def idle_left(self, ws: WebSession) -> float:
        return max(0.0, self.idle_s - (self.clock() - ws.last_seen))

    def count(self) -> int:
        with self._lock:
            return len(self._by_id)


def issue_token(ws: WebSession) -> str:
    token = secrets.token_urlsafe(24)
    ws.tokens.append(token)
    return token


def consume_token(ws: WebSession, token: str | None) -> bool:
    """True once per issued token: a missing, forged or replayed token is refused."""
    if not token:
        return False
    for t in list(ws.tokens):
        if hmac.compare_digest(t.encode(), token.encode()):
            ws.tokens.remove(t)
            return True
    return False


class SecurityMiddleware:
    """Adds the security headers to every response and refuses bodies over `max_body` bytes (413)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope.get("method", ""), scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            reject("body too large", method, path, 413)
            await _plain(send, 413, b"request body too large")
            return
        seen = 0
        too_big = False

        async def limited_receive() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    too_big = True
                    raise BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                hs = list(message.get("headers", []))
                names = {k for k, _ in hs}
                hs += [h for h in HEADERS if h[0] not in names]
                if b"cache-control" not in names and not path.startswith("/static/"):
                    hs.append((b"cache-control", b"no-store"))
                message["headers"] = hs
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            reject("body too large (streamed)", method, path, 413)
            await _plain(send, 413, b"request body too large")
        if too_big:
            return


class BodyTooLarge(Exception):
    pass


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})


class SignInThrottle:
    """Sign-in attempts per client address: at most `limit` within `window` seconds (a sliding window).

    Checked before any account is looked at, so a device on the kiosk network cannot guess passwords fast
    nor push officers' accounts into their lock-out."""

    def __init__(self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 4096) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_clients = max_clients
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._seen) >= self.max_clients and client not in self._seen:
                self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.window}
            times = self._seen.setdefault(client, deque())
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            return True
