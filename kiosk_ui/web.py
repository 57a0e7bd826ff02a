"""The ASGI app: one FastAPI instance serving /kiosk, /booth and /tech with server-rendered pages.

Shared plumbing lives here: language choice (`?lang=`, remembered in a cookie), role-bound web
sessions, CSRF-checked form parsing, template rendering and the server-sent-event helper that the
three UIs use for live updates.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from edge.lane.lane import Lane
from edge.speech import PromptCache
from kiosk_ui import i18n
from kiosk_ui.accounts import Accounts
from kiosk_ui.security import (
    COOKIES,
    PATHS,
    BodyTooLarge,
    SecurityMiddleware,
    SignInThrottle,
    WebSession,
    WebSessions,
    consume_token,
    reject,
)

log = logging.getLogger("borderpost.ui")
HERE = Path(__file__).parent
LANG_COOKIE = "bp_lang"


class Denied(Exception):
    """A request refused for a security reason; `status` is what the client gets."""

    def __init__(self, status: int, reason: str, redirect: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.redirect = redirect


class UI:
    """What the route modules share: the lane, accounts, sessions and rendering."""

    def __init__(self, lane: Lane, accounts: Accounts) -> None:
        self.lane = lane
        self.accounts = accounts
        self.options = lane.options
        self.prompts = PromptCache(lane.cfg.store.path.parent / "speech")   # spoken kiosk prompts, rendered once
        self.throttle = SignInThrottle()
        self.sessions = WebSessions(lane.options.officer_idle_s, max_kiosks=lane.options.max_kiosk_screens,
                                    on_evict=lane.forget_kiosk)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["isolate"] = i18n.isolate
        self.streams = 0
        self.log_buffer: Any = None   # kiosk_ui.tech.LogBuffer, when the console is mounted

    # ---------------------------------------------------------------- language
    def language(self, request: Request, ws: WebSession | None = None) -> str:
        asked = request.query_params.get("lang")
        if asked in i18n.LANGUAGES:
            return asked
        if ws is not None and ws.lang in i18n.LANGUAGES and ws.lang != "":
            return ws.lang
        cookie = request.cookies.get(LANG_COOKIE)
        return i18n.normalise(cookie, self.lane.cfg.ui.default_language)

    def remember_language(self, response: Response, lang: str) -> None:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", httponly=True, samesite="strict",
                            secure=self.options.secure_cookies)

    # ---------------------------------------------------------------- sessions
    def session(self, request: Request, role: str, *, signed_in: bool = True, touch: bool = True) -> WebSession:
        """The caller's session for `role`; raises Denied (redirect to sign-in for pages, 403 otherwise)."""
        ws, why = self.sessions.lookup(request.cookies.get(COOKIES[role]), role, touch=touch)
        page = request.method == "GET"
        signin = f"{PATHS[role]}/signin" + ("?idle=1" if why == "idle" else "")
        if ws is None:
            # a cookie of another role (copied into this role's cookie name) is an attack, not a timeout
            if why == "role":
                raise Denied(403, "session cookie of another role")
            if role == "kiosk":
                raise Denied(303, "no kiosk session", redirect="/kiosk")
            raise Denied(303 if page else 403, f"no session ({why})", redirect=signin if page else None)
        if signed_in and role != "kiosk" and ws.user is None:
            raise Denied(303 if page else 403, "not signed in", redirect=signin if page else None)
        return ws

    def set_session_cookie(self, response: Response, ws: WebSession) -> None:
        response.set_cookie(COOKIES[ws.role], ws.id, path=PATHS[ws.role], httponly=True, samesite="strict",
                            secure=self.options.secure_cookies)

    async def form(self, request: Request, ws: WebSession, allowed: dict[str, int]) -> FormData:
        """The posted form, CSRF-checked (single-use token) and limited to `allowed` fields and lengths."""
        try:
            form = await request.form(max_files=0, max_fields=40)
        except BodyTooLarge:
            raise
        except Exception as exc:
            raise Denied(400, f"unparsable form ({type(exc).__name__})") from None
        if not consume_token(ws, form.get("csrf") if isinstance(form.get("csrf"), str) else None):
            raise Denied(403, "missing, forged or replayed CSRF token")
        for key, value in form.multi_items():
            if key == "csrf":
                continue
            if key not in allowed:
                raise Denied(422, f"unexpected field {key[:30]!r}")
            if not isinstance(value, str) or len(value) > allowed[key]:
                raise Denied(422, f"field {key!r} too long or not text")
        return form

    # ---------------------------------------------------------------- rendering
    def render(self, request: Request, template: str, lang: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        t = i18n.Translator(lang)
        ctx.update(request=request, t=t, lang=t.lang, dir=t.dir, languages=i18n.LANGUAGES,
                   lang_names={code: i18n.translate(code, "lang.name") for code in i18n.LANGUAGES})
        resp = self.templates.TemplateResponse(request, template, ctx, status_code=status)
        return resp

    def event_stream(self, request: Request, ws: WebSession, snapshot: Callable[[], dict[str, Any]],
               max_seconds: float = 600.0) -> Response:
        """Server-sent events: `snapshot()` whenever it changes (checked 10x a second), else a heartbeat."""
        if ws.streams >= self.options.max_streams_per_client or self.streams >= self.options.max_streams:
            raise Denied(429, "too many live-update streams")
        ws.streams += 1
        self.streams += 1

        async def events() -> AsyncIterator[bytes]:
            last, quiet = None, 0
            try:
                loop = asyncio.get_running_loop()
                end = loop.time() + max_seconds
                yield b"retry: 1000\n\n"
                while loop.time() < end:
                    if await request.is_disconnected():
                        break
                    snap = json.dumps(snapshot(), ensure_ascii=False)
                    if snap != last:
                        last, quiet = snap, 0
                        yield f"data: {snap}\n\n".encode()
                    else:
                        quiet += 1
                        if quiet >= 150:
                            quiet = 0
                            yield b": keep-alive\n\n"
                    await asyncio.sleep(0.1)
            finally:
                ws.streams -= 1
                self.streams -= 1

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def create_app(lane: Lane, accounts: Accounts) -> FastAPI:
    from kiosk_ui import booth, booth_people, kiosk, tech

    ui = UI(lane, accounts)
    app = FastAPI(title="borderpost", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = ui

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> Response:
        if exc.redirect:
            if exc.reason not in ("no kiosk session",) and not exc.reason.startswith("no session (missing"):
                reject(exc.reason, request.method, request.url.path, exc.status)
            return RedirectResponse(exc.redirect, status_code=303)
        reject(exc.reason, request.method, request.url.path, exc.status)
        return PlainTextResponse(f"{exc.status}: request refused", status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code >= 400 and exc.status_code != 404:
            reject(str(exc.detail)[:80], request.method, request.url.path, exc.status_code)
        return PlainTextResponse(f"{exc.status_code}", status_code=exc.status_code)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/kiosk", status_code=303)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(kiosk.router(ui))
    app.include_router(booth.router(ui))
    app.include_router(booth_people.router(ui))
    app.include_router(tech.router(ui))
    app.add_middleware(SecurityMiddleware, max_body=lane.options.max_body_bytes)
    return app
