"""Booth pages beyond the queue: a person without a document, protection screening, the supervisor's audit view.

A person without a document is recorded through the lane (`edge.lane.undocumented`: the photo comes from the
booth camera through the lane, the alert lists judge the declared name and birth date) and then decided like any
transaction. A screening's answers and referral stay in the lane's memory until the decision seals them; no page,
list, log or audit entry shows them (the audit says only that a screening was made, by whom).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from edge.documents import parse_mrz
from edge.events.model import DeclaredIdentity
from edge.lane.undocumented import REASONS, has_sensor, take_undocumented
from edge.protection import ScreeningError
from kiosk_ui.security import issue_token
from kiosk_ui.web import UI, Denied

CODE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")
ACTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
AUDIT_ROWS = 200
MRZ_MAX = 200
MRZ_FIELDS = ("format", "document_number", "surname", "given_names", "nationality", "birth_date", "expiry_date", "sex")


def declared_from(form) -> DeclaredIdentity:
    """The officer's form as a declared identity; ValueError (one line, for the officer) when it does not fit."""
    def text(name: str) -> str | None:
        v = str(form.get(name, "")).strip()
        return v or None

    birth, age = text("birth_date"), text("estimated_age")
    if birth:
        try:
            date.fromisoformat(birth)
        except ValueError:
            raise ValueError("booth.nodoc.bad_birth_date") from None
    if not birth and not (age and age.isdigit()):
        raise ValueError("booth.nodoc.need_birth_or_age")
    try:
        return DeclaredIdentity(surname=text("surname") or "", given_names=text("given_names"), birth_date=birth,
                                estimated_age=int(age) if age and age.isdigit() and not birth else None,
                                nationality=(text("nationality") or "").upper() or None, sex=text("sex"),
                                reason=text("reason"))
    except ValidationError:
        raise ValueError("booth.nodoc.invalid") from None


def router(ui: UI) -> APIRouter:
    r = APIRouter(prefix="/booth")
    lane = ui.lane

    def common(ws) -> dict:
        return {"user": ws.user, "idle_s": ui.options.officer_idle_s, "idle_warn_s": ui.options.officer_idle_warn_s,
                "supervisor": "supervisor" in ws.prefs}

    def nodoc_page(request: Request, ws, error: str | None = None, status: int = 200, values=None) -> Response:
        return ui.render(request, "booth/undocumented.html", ui.language(request, ws), status=status,
                         csrf=issue_token(ws), reasons=REASONS, error=error, v=values or {},
                         sensor=has_sensor(lane), **common(ws))

    @r.get("/undocumented")
    async def undocumented_form(request: Request) -> Response:
        ws = ui.session(request, "officer")
        return nodoc_page(request, ws)

    @r.post("/undocumented")
    async def undocumented(request: Request) -> Response:
        ws = ui.session(request, "officer")
        form = await ui.form(request, ws, {"surname": 80, "given_names": 120, "birth_date": 10, "estimated_age": 3,
                                           "nationality": 3, "sex": 1, "reason": 20, "photo": 1, "fingers": 1})
        try:
            declared = declared_from(form)
        except ValueError as exc:
            values = {k: str(v) for k, v in form.items() if k != "csrf"}
            return nodoc_page(request, ws, error=str(exc), status=422, values=values)
        code = await asyncio.to_thread(take_undocumented, lane, ws.user or "?", declared, form.get("photo") == "1",
                                       form.get("fingers") == "1")
        return RedirectResponse(f"/booth/t/{code}", status_code=303)

    @r.post("/t/{code}/screening")
    async def screening(request: Request, code: str) -> Response:
        ws = ui.session(request, "officer")
        if not CODE.match(code):
            raise Denied(404, "malformed transaction code")
        settings = lane.referrals.settings
        allowed = {f"q_{q.id}": 3 for q in settings.questions} | {"partner": 24, "note": 4000}
        form = await ui.form(request, ws, allowed)
        q = lane.get(code)
        if q is None:
            return RedirectResponse("/booth?m=booth.not_found", status_code=303)
        answers = {x.id: form.get(f"q_{x.id}") == "yes" for x in settings.questions}
        declared = q.declared.model_dump(mode="json") if q.declared else None
        try:
            lane.referrals.screen(code, ws.user or "?", answers, str(form.get("partner", "")) or None,
                                           str(form.get("note", "")), declared)
        except ScreeningError:
            return RedirectResponse(f"/booth/t/{code}?e=booth.screen_failed", status_code=303)
        # that a screening was made and whether a referral waits: never what it found (not even how much)
        lane.audit(ws.user or "?", "booth.screened", code, {"referral": lane.referrals.pending(code)})
        return RedirectResponse(f"/booth/t/{code}", status_code=303)

    @r.get("/mrz")
    async def mrz_form(request: Request) -> Response:
        """Manual MRZ entry when a reader fails: the typed lines are checked live by the parser."""
        ws = ui.session(request, "officer")
        return ui.render(request, "booth/mrz.html", ui.language(request, ws), csrf=issue_token(ws), result=None,
                         lines="", **common(ws))

    @r.post("/mrz/check")
    async def mrz_check(request: Request) -> Response:
        """Live validation (no state changes: the officer's SameSite session is the only credential needed)."""
        ui.session(request, "officer")
        body = await request.body()
        try:
            lines = str(json.loads(body or b"{}").get("lines", ""))[:MRZ_MAX]
        except (ValueError, AttributeError):
            raise Denied(422, "unparsable MRZ check") from None
        return JSONResponse(mrz_result(lines), headers={"cache-control": "no-store"})

    @r.post("/mrz")
    async def mrz_submit(request: Request) -> Response:
        ws = ui.session(request, "officer")
        form = await ui.form(request, ws, {"lines": MRZ_MAX})
        lines = str(form.get("lines", ""))
        result = mrz_result(lines)
        if result["valid"]:
            q = lane.find(lines.upper())
            lane.audit(ws.user or "?", "booth.mrz_typed", q.code if q else "", {"found": q is not None})
            if q is not None:
                return RedirectResponse(f"/booth/t/{q.code}", status_code=303)
            if await asyncio.to_thread(lane.offer_document, lines.upper(), "booth.typed"):
                return RedirectResponse("/booth?m=booth.mrz_taken", status_code=303)
        return ui.render(request, "booth/mrz.html", ui.language(request, ws), status=422, csrf=issue_token(ws),
                         result=result, lines=lines, **common(ws))

    @r.get("/audit")
    async def audit(request: Request) -> Response:
        ws = ui.session(request, "officer")
        if "supervisor" not in ws.prefs:
            raise Denied(403, "audit view needs the supervisor role")
        officer = request.query_params.get("officer", "")
        officer = officer if ACTOR.match(officer) else ""
        lane.audit(ws.user or "?", "booth.audit_viewed", officer, {})
        with lane.lock:
            sql = "SELECT id, at, actor, action, subject, detail FROM audit"
            rows = lane.store.conn.execute(
                sql + (" WHERE actor = ?" if officer else "") + " ORDER BY id DESC LIMIT ?",
                (officer, AUDIT_ROWS) if officer else (AUDIT_ROWS,)).fetchall()
            actors = [a for (a,) in lane.store.conn.execute("SELECT DISTINCT actor FROM audit ORDER BY actor")]
        entries = [{"id": i, "at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)), "actor": actor,
                    "action": action, "subject": subject or "", "detail": _detail(detail)}
                   for i, at, actor, action, subject, detail in rows]
        return ui.render(request, "booth/audit.html", ui.language(request, ws), csrf=issue_token(ws),
                         entries=entries, actors=actors, officer=officer, **common(ws))

    return r


def mrz_result(lines: str) -> dict:
    """What the booth shows of typed MRZ lines: valid or not, the parser's corrections and errors, the fields."""
    text = "\n".join(line.strip().upper() for line in lines.splitlines() if line.strip())
    d = parse_mrz(text).to_dict() if text else {"valid": False, "errors": [], "corrections": []}
    return {"valid": bool(d.get("valid")), "corrections": list(d.get("corrections") or []),
            "errors": list(d.get("errors") or []), "fields": {k: d.get(k) for k in MRZ_FIELDS if d.get(k)}}


def _detail(raw: str | None) -> str:
    try:
        d = json.loads(raw or "{}")
    except ValueError:
        return ""
    return ", ".join(f"{k}={v}" for k, v in d.items()) if isinstance(d, dict) else ""
