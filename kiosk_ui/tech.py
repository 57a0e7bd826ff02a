"""The technician's console: /tech. Devices with test captures, broker, queue, disk, logs, diagnostics.

Test reads never show personal data: an MRZ test read reports the format and which checks passed,
not names or numbers; logs shown here are scrubbed of anything that looks like an MRZ line.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import platform
import re
import time
import zipfile
from collections import deque

from fastapi import APIRouter, Request
from fastapi.responses import Response

from edge.config import masked
from edge.lane import diagnostics as diag
from edge.lane.diagnostics import NoSuchDevice, scrub
from kiosk_ui import tech_update
from kiosk_ui.booth import signin_routes
from kiosk_ui.security import issue_token
from kiosk_ui.web import UI, Denied

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LogBuffer(logging.Handler):
    """The last N log records of `borderpost.*`, scrubbed, for the console and the diagnostics bundle."""

    def __init__(self, size: int = 300) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:
            msg = record.msg if isinstance(record.msg, str) else "?"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        self.lines.append(scrub(f"{stamp} {record.levelname} {record.name}: {msg}")[:300])


def router(ui: UI) -> APIRouter:
    r = APIRouter(prefix="/tech")
    lane = ui.lane
    signin_routes(ui, r, "technician", "/tech", "tech/signin.html", "/tech")
    r.include_router(tech_update.router(ui))   # /tech/update: A/B system updates

    def page(request: Request, ws, result: dict | None = None) -> Response:
        lang = ui.language(request, ws)
        ws.lang = lang
        logs = list(ui.log_buffer.lines)[-40:] if ui.log_buffer else []
        return ui.render(request, "tech/console.html", lang, csrf=issue_token(ws),
                         devices=diag.device_rows(lane), system=diag.system_rows(lane), logs=logs, result=result,
                         user=ws.user, area="tech",
                         idle_s=ui.options.officer_idle_s, idle_warn_s=ui.options.officer_idle_warn_s)

    @r.get("")
    async def console(request: Request) -> Response:
        ws = ui.session(request, "technician")
        lane.audit(ws.user or "?", "tech.viewed", "", {})
        return await asyncio.to_thread(page, request, ws)

    def checked(name: str) -> str:
        if not NAME.match(name):
            raise Denied(404, "no such device")
        return name

    @r.get("/camera/{name}.jpg")
    async def camera(request: Request, name: str) -> Response:
        """One frame with the face box and quality score drawn on it (models permitting)."""
        ws = ui.session(request, "technician")
        try:
            blob = await asyncio.to_thread(diag.camera_test, lane, checked(name))
        except NoSuchDevice:
            raise Denied(404, "no such device") from None
        if f"cam:{name}" not in ws.prefs:             # the live preview refreshes: audit its start, not each frame
            ws.prefs.add(f"cam:{name}")
            lane.audit(ws.user or "?", "tech.camera_test", name, {"ok": bool(blob)})
        if not blob:
            return Response(status_code=204)
        return Response(blob, media_type="image/jpeg")

    @r.post("/test/{name}")
    async def test(request: Request, name: str) -> Response:
        ws = ui.session(request, "technician")
        await ui.form(request, ws, {})
        try:
            result = await asyncio.to_thread(diag.device_test, lane, checked(name))
        except NoSuchDevice:
            raise Denied(404, "no such device") from None
        lane.audit(ws.user or "?", "tech.device_test", name, {"ok": result.get("ok")})
        return await asyncio.to_thread(page, request, ws, result)

    @r.get("/diagnostics.zip")
    async def diagnostics(request: Request) -> Response:
        ws = ui.session(request, "technician")

        def build() -> bytes:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("config.json", json.dumps(masked(lane.cfg), indent=2, default=str))
                z.writestr("devices.json", json.dumps(diag.device_rows(lane), indent=2))
                z.writestr("system.json", json.dumps(diag.system_rows(lane), indent=2, default=str))
                z.writestr("runtimes.json", json.dumps(diag.check_runtimes(), indent=2))
                z.writestr("audit_chain.json", json.dumps({"intact": lane.store.verify_audit_chain()}))
                z.writestr("platform.json", json.dumps({"python": platform.python_version(),
                                                        "machine": platform.machine(),
                                                        "system": platform.platform()}))
                z.writestr("logs.txt", "\n".join(ui.log_buffer.lines if ui.log_buffer else []) + "\n")
            return buf.getvalue()

        blob = await asyncio.to_thread(build)
        lane.audit(ws.user or "?", "tech.diagnostics_exported", "", {"bytes": len(blob)})
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return Response(blob, media_type="application/zip", headers={
            "content-disposition": f'attachment; filename="borderpost-diagnostics-{stamp}.zip"'})

    return r
