"""The officer's booth: /booth. Sign-in, the post's queue, one transaction, and the decision.

Every view of a transaction and every decision is written to the hash-chained audit log with the
officer's id; the decision itself is a signed crossing event (see `Lane.decide`).
"""

from __future__ import annotations

import asyncio
import re
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from edge.lane import hits as alert_hits
from edge.lane import uncertain as doc_uncertain
from edge.lane.queue import OUTCOMES, REFUSAL_CODES, DecisionError
from kiosk_ui.security import issue_token
from kiosk_ui.web import UI, Denied

CODE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")
IMAGE = re.compile(r"^(face_live|face_portrait)\.jpg$|^finger_[a-z_]{1,20}\.png$")
DOC_FIELDS = ("surname", "given_names", "document_number", "nationality", "issuing_state", "birth_date",
              "expiry_date", "sex", "format")
QUEUE_MESSAGES = ("booth.not_found", "booth.decided", "booth.mrz_taken")
DECISION_ERRORS = ("booth.need_reason", "booth.resolve_hits", "booth.confirm_admit", "booth.screen_failed",
                   "booth.confirm_document", "booth.uncertain.bad_value")
LTR_FIELDS = {"document_number", "birth_date", "expiry_date", "format", "nationality", "issuing_state"}


def signin_routes(ui: UI, r: APIRouter, role: str, base: str, template: str, home: str) -> None:
    """GET/POST <base>/signin and POST <base>/signout for one role (shared with the console)."""

    @r.get("/signin")
    async def signin_page(request: Request) -> Response:
        ws = ui.sessions.new(role, lang=ui.language(request))
        message = "booth.signed_out_idle" if request.query_params.get("idle") else None
        resp = ui.render(request, template, ws.lang, csrf=issue_token(ws), message=message, area=base[1:])
        ui.set_session_cookie(resp, ws)
        ui.remember_language(resp, ws.lang)
        return resp

    @r.post("/signin")
    async def signin(request: Request) -> Response:
        ws = ui.session(request, role, signed_in=False)
        form = await ui.form(request, ws, {"user": 64, "password": 256})
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        client = request.client.host if request.client else "?"
        if not ui.throttle.allow(client):     # before the account is looked at: a flood cannot lock officers out
            ui.lane.audit("ui", "signin.throttled", "", {"role": role})
            return ui.render(request, template, ws.lang, status=429, csrf=issue_token(ws),
                             message="booth.throttled", area=base[1:])
        result = await asyncio.to_thread(ui.accounts.sign_in, user, password, role)   # argon2: off the loop
        if not result.ok:
            # one message whatever the cause (unknown id, wrong password, locked, wrong role): it must not
            # tell anyone at the kiosk network which accounts exist or are locked
            return ui.render(request, template, ws.lang, status=401, csrf=issue_token(ws),
                             message="booth.signin_failed", area=base[1:])
        ui.sessions.drop(ws.id)                          # a new id after sign-in: no session fixation
        fresh = ui.sessions.new(role, user=user, lang=ws.lang)
        if result.account is not None and result.account.role == "supervisor":
            fresh.prefs.add("supervisor")
        resp = RedirectResponse(home, status_code=303)
        ui.set_session_cookie(resp, fresh)
        return resp

    @r.post("/signout")
    async def signout(request: Request) -> Response:
        ws = ui.session(request, role)
        await ui.form(request, ws, {})
        ui.lane.audit(ws.user or "?", "signout", ws.user or "", {"role": role})
        ui.sessions.drop(ws.id)
        return RedirectResponse(f"{base}/signin", status_code=303)

    @r.post("/stay")
    async def stay(request: Request) -> Response:
        """'Stay signed in' after the idle warning: any request the officer makes resets the clock."""
        ui.session(request, role)
        return Response(status_code=204)


def router(ui: UI) -> APIRouter:
    r = APIRouter(prefix="/booth")
    lane = ui.lane
    signin_routes(ui, r, "officer", "/booth", "booth/signin.html", "/booth")

    def common(ws) -> dict:
        return {"user": ws.user, "idle_s": ui.options.officer_idle_s, "idle_warn_s": ui.options.officer_idle_warn_s,
                "supervisor": "supervisor" in ws.prefs}

    @r.get("")
    async def queue(request: Request) -> Response:
        ws = ui.session(request, "officer")
        lang = ui.language(request, ws)
        ws.lang = lang
        lane.audit(ws.user or "?", "booth.queue_viewed", "", {})
        now = time.time()
        items = [(q, int(now - q.created_at)) for q in lane.queue()]
        message = request.query_params.get("m")
        code = request.query_params.get("code", "")
        resp = ui.render(request, "booth/queue.html", lang, csrf=issue_token(ws), items=items,
                         message=message if message in QUEUE_MESSAGES else None,
                         code=code if CODE.match(code) else "", **common(ws))
        ui.remember_language(resp, lang)
        return resp

    @r.post("/find")
    async def find(request: Request) -> Response:
        ws = ui.session(request, "officer")
        form = await ui.form(request, ws, {"q": 200})
        q = lane.find(str(form.get("q", "")))
        lane.audit(ws.user or "?", "booth.search", q.code if q else "", {"found": q is not None})
        if q is None:
            return RedirectResponse("/booth?m=booth.not_found", status_code=303)
        return RedirectResponse(f"/booth/t/{q.code}", status_code=303)

    @r.get("/t/{code}")
    async def transaction(request: Request, code: str) -> Response:
        ws = ui.session(request, "officer")
        if not CODE.match(code):
            raise Denied(404, "malformed transaction code")
        q = lane.get(code)
        if q is None:
            return RedirectResponse("/booth?m=booth.not_found", status_code=303)
        lane.audit(ws.user or "?", "booth.viewed", code, {})
        lang = ui.language(request, ws)
        images = sorted(lane.images_of(code))
        doc = q.document
        fields = [(f, getattr(doc, f), f in LTR_FIELDS) for f in DOC_FIELDS] if doc else []
        error = request.query_params.get("e")
        hits = await asyncio.to_thread(alert_hits.booth_hits, lane, q, ws.user or "?")
        history = await asyncio.to_thread(lane.history_of, code)
        warned = bool(q.alerts or any(v.outcome in ("warn", "fail") for v in q.checks))
        return ui.render(request, "booth/transaction.html", lang, csrf=issue_token(ws), q=q, doc=doc,
                         fields=fields, face=q.face, fingers=q.fingerprints, images=images,
                         refusal_codes=REFUSAL_CODES, outcomes=OUTCOMES, hits=hits, history=history,
                         open_hits=alert_hits.open_hits(q), warned=warned,
                         uncertain=doc_uncertain.booth_fields(q), open_fields=doc_uncertain.open_fields(q),
                         screening=lane.referrals.settings,
                         referral_pending=lane.referrals.pending(code),
                         error=error if error in DECISION_ERRORS else None,
                         **common(ws))

    @r.post("/t/{code}/hit")
    async def hit(request: Request, code: str) -> Response:
        """The officer's finding on one alert-list hit: the same person, or not."""
        ws = ui.session(request, "officer")
        if not CODE.match(code):
            raise Denied(404, "malformed transaction code")
        form = await ui.form(request, ws, {"hit": 200, "finding": 10})
        finding = form.get("finding")
        if finding not in ("same", "not_same"):
            raise Denied(422, "tampered hit form")
        done = await asyncio.to_thread(alert_hits.resolve_hit, lane, code, ws.user or "?", str(form.get("hit", "")),
                                       finding == "same")
        if not done:
            raise Denied(404, "no such hit")
        return RedirectResponse(f"/booth/t/{code}", status_code=303)

    @r.post("/t/{code}/document")
    async def confirm_document(request: Request, code: str) -> Response:
        """The officer settles one uncertain document field: as read, an alternative, or typed from the document."""
        ws = ui.session(request, "officer")
        if not CODE.match(code):
            raise Denied(404, "malformed transaction code")
        form = await ui.form(request, ws, {"field": 20, "choice": 10, "typed": 80, "confirm_field": 1})
        field = str(form.get("field", ""))
        if field not in doc_uncertain.FIELDS_OF:
            raise Denied(422, "tampered document form")
        done = await asyncio.to_thread(doc_uncertain.confirm_field, lane, code, ws.user or "?", field,
                                       str(form.get("choice", "")), str(form.get("typed", "")))
        if not done:
            return RedirectResponse(f"/booth/t/{code}?e=booth.uncertain.bad_value#uncertain", status_code=303)
        return RedirectResponse(f"/booth/t/{code}#uncertain", status_code=303)

    @r.get("/t/{code}/img/{name}")
    async def image(request: Request, code: str, name: str) -> Response:
        ws = ui.session(request, "officer")
        if not CODE.match(code) or not IMAGE.match(name):
            raise Denied(404, "no such image")
        blob = lane.images_of(code).get(name)
        if blob is None:
            raise Denied(404, "no such image")
        lane.audit(ws.user or "?", "booth.image_viewed", code, {"image": name})
        return Response(blob, media_type="image/png" if name.endswith(".png") else "image/jpeg",
                        headers={"cache-control": "no-store"})

    @r.post("/t/{code}/decide")
    async def decide(request: Request, code: str) -> Response:
        ws = ui.session(request, "officer")
        if not CODE.match(code):
            raise Denied(404, "malformed transaction code")
        form = await ui.form(request, ws, {"outcome": 10, "reason": 4, "note": 500, "direction": 5, "confirm": 1})
        outcome = form.get("outcome")
        direction = form.get("direction")
        reasons = [str(v) for v in form.getlist("reason")]
        if outcome not in OUTCOMES or direction not in ("entry", "exit") \
                or any(x not in REFUSAL_CODES for x in reasons) or len(reasons) != len(set(reasons)):
            raise Denied(422, "tampered decision form")
        try:
            await asyncio.to_thread(lane.decide, code, ws.user or "?", outcome, reasons=reasons,
                                    note=str(form.get("note", "")), direction=direction,
                                    confirmed=form.get("confirm") == "1")
        except DecisionError as exc:
            if str(exc) in DECISION_ERRORS:
                return RedirectResponse(f"/booth/t/{code}?e={exc}", status_code=303)
            return RedirectResponse("/booth?m=booth.not_found", status_code=303)
        return RedirectResponse(f"/booth?m=booth.decided&code={code}", status_code=303)

    @r.get("/stream")
    async def stream(request: Request) -> Response:
        ws = ui.session(request, "officer", touch=False)   # live updates are not officer activity

        def snapshot() -> dict:
            return {"queue": lane.queue_version, "idle_left": round(ui.sessions.idle_left(ws)),
                    "scan": list(lane.scanned)}

        return ui.event_stream(request, ws, snapshot)

    return r
