"""The traveller's kiosk: /kiosk. One screen per step, big buttons, live hints over server-sent events.

The kiosk's cookie is bound to the kiosk role and path: these routes never serve officer or
technician data, and the booth and console refuse the kiosk's session.
"""

from __future__ import annotations

import asyncio
import contextlib

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from edge.lane import demo, questions
from edge.lane.lane import KIOSK_ACTIONS
from edge.lane.session import Ending, SessionError, Step
from edge.speech import SpeechUnavailable, Voice
from kiosk_ui import i18n
from kiosk_ui.security import issue_token
from kiosk_ui.web import UI, Denied

ACTIONS = KIOSK_ACTIONS
# What each screen says aloud (message keys, in the session's language); the result adds its own message.
SPOKEN: dict[Step, tuple[str, ...]] = {
    Step.LANGUAGE: ("lang.choose",), Step.DOCUMENT: ("doc.title", "doc.instruction"),
    Step.CHIP: ("chip.title", "chip.instruction"), Step.FACE: ("face.title", "face.instruction"),
    Step.FINGERS: ("finger.title",),
}


def traveller_steps(s) -> list[Step]:
    """The steps this traveller goes through, as the counter shows them (no chip, face or finger step the post
    does not ask for; the chip step counts with the document)."""
    steps = [Step.LANGUAGE, Step.DOCUMENT]
    if s.rules.face:
        steps.append(Step.FACE)
    if s.rules.fingerprints:
        steps.append(Step.FINGERS)
    return [*steps, Step.RESULT]


def step_counter(s) -> tuple[int, int]:
    steps = traveller_steps(s)
    current = Step.DOCUMENT if s.step is Step.CHIP else s.step
    return (steps.index(current) + 1 if current in steps else len(steps)), len(steps)


def spoken_text(s, lang: str) -> str:
    """The current screen's prompt as one text to speak."""
    if s.step is Step.RESULT:
        ending = s.ending.value if s.ending else "abandoned"
        keys = [f"result.{ending}.title", f"result.{ending}.where", *([s.message()] if s.message() else [])]
    else:
        keys = list(SPOKEN.get(s.step, ()))
    parts = [i18n.translate(lang, k) for k in keys]
    if s.step is Step.FINGERS:
        parts += finger_prompt(s, lang)
    return " ".join(parts).replace(i18n.FSI, "").replace(i18n.PDI, "")


def finger_prompt(s, lang: str) -> list[str]:
    """What the finger screen asks, spoken: what to do first (lift the finger just taken, a retry's hint), then
    which finger to place, and for a stand-in why."""
    finger = s.next_finger()
    if finger is None:
        return []
    t = i18n.Translator(lang)
    replaces = s.finger_replaces()
    place = (t("finger.stand_in", missing=t(f"finger.{replaces}"), finger=t(f"finger.{finger}")) if replaces
             else t("finger.instruction", finger=t(f"finger.{finger}")))
    return [*(t(k) for k in s.feedback[:1]), place]


def qr_data_uri(code: str) -> str:
    """The transaction code as a QR (SVG data URI): the officer's scanner types it into the booth."""
    return segno.make(code, error="m").svg_data_uri(scale=8, border=2, dark="#000", light="#fff")


def router(ui: UI) -> APIRouter:
    r = APIRouter(prefix="/kiosk")
    lane = ui.lane

    def kiosk_session(request: Request, create: bool = True):
        try:
            return ui.session(request, "kiosk"), False
        except Denied as exc:
            if exc.status != 303 or not create:
                raise
            lang = ui.language(request)
            return ui.sessions.new("kiosk", lang=lang), True

    @r.get("")
    async def page(request: Request) -> Response:
        ws, fresh = kiosk_session(request)
        s = lane.kiosk(ws.id)
        asked = request.query_params.get("lang")
        if asked in i18n.LANGUAGES and asked != s.language and s.step is not Step.LANGUAGE:
            s.set_language(asked)
        lang = asked if asked in i18n.LANGUAGES else (s.language if s.step is not Step.LANGUAGE else ws.lang)
        lang = i18n.normalise(lang, lane.cfg.ui.default_language)
        ws.lang = lang
        tick = s.peek(lane.clock())
        simulated = lane.kiosk_devices(s.step)["simulated"]
        number, total = step_counter(s)
        finger = s.next_finger() if s.step is Step.FINGERS else None
        resp = ui.render(
            request, f"kiosk/{s.step.value}.html", lang, s=s, csrf=issue_token(ws), tick=tick,
            step_number=number, step_total=total, prefs=ws.prefs, simulated=simulated, finger=finger,
            ending=s.ending.value if s.ending else None, qr=qr_data_uri(s.code) if s.finished else None,
            Ending=Ending, reasons=s.reasons, tries_left=s.tries_left(), message=s.message(),
            questions=lane.kiosk_questions,
            choose={code: i18n.translate(code, "lang.choose") for code in i18n.LANGUAGES},
        )
        if fresh:
            ui.set_session_cookie(resp, ws)
        ui.remember_language(resp, lang)
        return resp

    @r.post("/action")
    async def action(request: Request) -> Response:
        ws = ui.session(request, "kiosk")
        form = await ui.form(request, ws, {"action": 20, "arg": 4})
        name, arg = form.get("action"), form.get("arg")
        if name not in ACTIONS or (arg is not None and arg not in i18n.LANGUAGES):
            raise Denied(422, "unknown kiosk action")
        try:
            s = lane.kiosk_action(ws.id, str(name), str(arg) if arg else None)
        except SessionError:
            return RedirectResponse("/kiosk", status_code=303)   # a stale screen: just show the current one
        if name in ("language", "set_language") and arg:
            ws.lang = str(arg)
        target = f"/kiosk?lang={s.language}" if s.step is not Step.LANGUAGE else "/kiosk"
        return RedirectResponse(target, status_code=303)

    @r.post("/answers")
    async def answers(request: Request) -> Response:
        """The traveller's answers to the post's questions (purpose of travel, length of stay)."""
        ws = ui.session(request, "kiosk")
        allowed = {q.id: 32 for q in lane.kiosk_questions}
        form = await ui.form(request, ws, allowed)
        with contextlib.suppress(SessionError):     # a stale result screen: just show the current one
            questions.answer(lane, ws.id, {k: str(v) for k, v in form.items() if k in allowed})
        return RedirectResponse("/kiosk", status_code=303)

    @r.post("/prefs")
    async def prefs(request: Request) -> Response:
        ws = ui.session(request, "kiosk")
        form = await ui.form(request, ws, {"toggle": 10})
        toggle = form.get("toggle")
        if toggle not in ("large", "contrast", "speech"):
            raise Denied(422, "unknown display preference")
        ws.prefs.symmetric_difference_update({str(toggle)})
        return RedirectResponse("/kiosk", status_code=303)

    @r.get("/speech.wav")
    async def speech(request: Request) -> Response:
        """The current screen spoken in the traveller's language (espeak-ng, rendered once then cached)."""
        ws = ui.session(request, "kiosk")
        s = lane.kiosk(ws.id)
        lang = i18n.normalise(s.language if s.step is not Step.LANGUAGE else ws.lang, lane.cfg.ui.default_language)
        text = spoken_text(s, lang)
        try:
            path = await asyncio.to_thread(ui.prompts.path, text, Voice(lang))
        except SpeechUnavailable as exc:
            raise Denied(503, f"speech unavailable: {str(exc)[:80]}") from None
        return Response(path.read_bytes(), media_type="audio/wav", headers={"cache-control": "no-store"})

    @r.post("/sim/document")
    async def sim_document(request: Request) -> Response:
        """Demo only (simulated reader): put a synthetic passport on the reader, valid or expired."""
        ws = ui.session(request, "kiosk")
        form = await ui.form(request, ws, {"kind": 10})
        kind = form.get("kind")
        if kind not in ("valid", "expired"):
            raise Denied(422, "unknown sample document")
        try:
            demo.present_document(lane.devices, kind)
        except demo.NotSimulated as exc:
            raise Denied(404, str(exc)) from None
        return RedirectResponse("/kiosk", status_code=303)

    @r.post("/sim/finger")
    async def sim_finger(request: Request) -> Response:
        """Demo only (simulated sensor): a synthetic finger rests on the sensor."""
        ws = ui.session(request, "kiosk")
        await ui.form(request, ws, {})
        try:
            demo.finger_on(lane.devices)
        except demo.NotSimulated as exc:
            raise Denied(404, str(exc)) from None
        return RedirectResponse("/kiosk", status_code=303)

    @r.get("/camera.jpg")
    async def camera(request: Request) -> Response:
        ws = ui.session(request, "kiosk")
        s = lane.kiosk(ws.id)
        frame = lane.last_frame if s.step is Step.FACE else None
        if not frame:
            return Response(status_code=204)
        return Response(frame, media_type="image/jpeg", headers={"cache-control": "no-store"})

    @r.get("/stream")
    async def stream(request: Request) -> Response:
        ws = ui.session(request, "kiosk")

        def snapshot() -> dict:
            s = lane.kiosk(ws.id)
            t = s.peek(lane.clock()) if not s.finished else None
            lang = s.language if s.step is not Step.LANGUAGE else ws.lang
            return {"code": s.code, "step": s.step.value, "warn": bool(t and t.warn),
                    "finger": s.next_finger() if s.step is Step.FINGERS else None,
                    "remaining": round(t.remaining) if t else None,
                    "feedback": [i18n.translate(lang, k) for k in s.feedback],
                    "resetting": i18n.translate(lang, "common.resetting", seconds=round(t.remaining) if t else 0)}

        return ui.event_stream(request, ws, snapshot)

    return r
