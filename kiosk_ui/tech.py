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
import shutil
import threading
import time
import zipfile
from collections import deque
from typing import Any

import cv2
from fastapi import APIRouter, Request
from fastapi.responses import Response

from drivers.contract import DeviceKind
from edge.config import masked
from kiosk_ui.booth import signin_routes
from kiosk_ui.security import issue_token
from kiosk_ui.web import UI, Denied
from kiosk_ui.workers import jpeg

MRZ_LIKE = re.compile(r"[A-Z0-9<]{20,}")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def scrub(text: str) -> str:
    """Remove anything that could be an MRZ line or a document number from a log line."""
    return MRZ_LIKE.sub("[redacted]", text)


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


def device_rows(ui: UI) -> list[dict[str, Any]]:
    rows = []
    for name, d in ui.hub.devices.devices.items():
        row: dict[str, Any] = {"name": name, "backend": d.backend, "simulated": d.simulation is not None,
                               "kind": d.device.kind.value if d.device else None}
        if d.device is None:
            row.update(status="unavailable", detail=scrub(d.error or ""), info="")
        else:
            try:
                rep = d.device.status()
                info = d.device.info()
                row.update(status=rep.status.value, detail=scrub(rep.detail or ""),
                           info=f"{info.make} / {info.model} / {info.serial} / {info.firmware}")
            except Exception as exc:
                row.update(status="error", detail=type(exc).__name__, info="")
        rows.append(row)
    return rows


def system_rows(ui: UI) -> dict[str, Any]:
    from edge.cli.doctor import check_broker

    st = ui.hub.store.stats()
    disk = shutil.disk_usage(ui.hub.store.path.parent)
    return {"broker": check_broker(ui.hub.cfg, timeout=1.0), "pending": st.pending, "parked": st.parked,
            "delivered": st.delivered, "oldest": st.oldest_pending_age_s,
            "db_mb": round(st.db_size_bytes / 2**20, 2), "disk_free_mb": disk.free // 2**20,
            "capacity_problem": ui.hub.store.capacity_problem()}


def page_check(img: Any, analyzer: Any) -> str:
    """The page camera's test: is the MRZ band in view, and a portrait? Boxes drawn on `img`; nothing is read."""
    from edge.documents.portrait import choose_face, detect_faces, mrz_band_box

    band = mrz_band_box(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    if band is not None:
        cv2.rectangle(img, (int(band[0]), int(band[1])), (int(band[2]), int(band[3])), (200, 120, 0), 3)
    face = choose_face(detect_faces(analyzer, img), band) if analyzer is not None else None
    if face is not None:
        x, y, w, h = (int(v) for v in face.box)
        cv2.rectangle(img, (x, y), (x + w, y + h), (0, 200, 0), 3)
    found = "found" if face is not None else "not found" if analyzer is not None else "unknown (no face analysis)"
    return f"page camera: MRZ band {'in view' if band else 'NOT in view'}, portrait {found}"


def router(ui: UI) -> APIRouter:
    r = APIRouter(prefix="/tech")
    hub = ui.hub
    signin_routes(ui, r, "technician", "/tech", "tech/signin.html", "/tech")

    def page(request: Request, ws, result: dict | None = None) -> Response:
        lang = ui.language(request, ws)
        ws.lang = lang
        logs = list(ui.log_buffer.lines)[-40:] if ui.log_buffer else []
        return ui.render(request, "tech/console.html", lang, csrf=issue_token(ws), devices=device_rows(ui),
                         system=system_rows(ui), logs=logs, result=result, user=ws.user, area="tech",
                         idle_s=ui.options.officer_idle_s, idle_warn_s=ui.options.officer_idle_warn_s)

    @r.get("")
    async def console(request: Request) -> Response:
        ws = ui.session(request, "technician")
        hub.audit(ws.user or "?", "tech.viewed", "", {})
        return await asyncio.to_thread(page, request, ws)

    def device(name: str, kind: DeviceKind):
        d = hub.devices.devices.get(name) if NAME.match(name) else None
        if d is None or d.device is None or d.device.kind is not kind:
            raise Denied(404, "no such device")
        return d.device

    @r.get("/camera/{name}.jpg")
    async def camera(request: Request, name: str) -> Response:
        """One frame with the face box and quality score drawn on it (models permitting)."""
        ws = ui.session(request, "technician")
        cam = device(name, DeviceKind.CAMERA)

        def grab() -> bytes:
            res = cam.capture(timeout=3.0)
            if not res.ok or res.sample is None:
                return b""
            img = res.sample.data.copy()
            analyzer = hub.workers.analyzer() if hub.workers else None
            label = "face analysis unavailable"
            if name == hub.cfg.policy.portrait_camera:
                label = page_check(img, analyzer)
            elif analyzer is not None:
                rep = analyzer.quality(img)
                label = f"quality {rep.score:.0f} {'OK' if rep.acceptable else ' '.join(rep.feedback[:1])}"
                if rep.face is not None:
                    x, y, w, h = (int(v) for v in rep.face.box)
                    cv2.rectangle(img, (x, y), (x + w, y + h), (0, 200, 0) if rep.acceptable else (0, 0, 230), 3)
            cv2.rectangle(img, (0, 0), (img.shape[1], 34), (0, 0, 0), -1)
            cv2.putText(img, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            return jpeg(img)

        blob = await asyncio.to_thread(grab)
        if f"cam:{name}" not in ws.prefs:             # the live preview refreshes: audit its start, not each frame
            ws.prefs.add(f"cam:{name}")
            hub.audit(ws.user or "?", "tech.camera_test", name, {"ok": bool(blob)})
        if not blob:
            return Response(status_code=204)
        return Response(blob, media_type="image/jpeg")

    @r.post("/test/{name}")
    async def test(request: Request, name: str) -> Response:
        ws = ui.session(request, "technician")
        await ui.form(request, ws, {})
        d = hub.devices.devices.get(name) if NAME.match(name) else None
        if d is None or d.device is None:
            raise Denied(404, "no such device")
        kind = d.device.kind

        def run() -> dict[str, Any]:
            if kind is DeviceKind.MRZ:
                from edge.station import document_summary

                text = test_read(d)
                if text is None:
                    return {"device": name, "ok": False, "error": "no-sample"}
                doc = document_summary(text, name)
                return {"device": name, "ok": True, "format": doc.format, "valid": doc.valid,
                        "checks": doc.checks, "errors": doc.errors}
            if kind is DeviceKind.FINGERPRINT:
                from edge.biometrics.finger import capture_finger

                cap = capture_finger(d.device, "right_index", timeout=10.0, retries=0)
                q = cap.quality
                return {"device": name, "ok": cap.ok, "score": round(q.score, 1) if q else None,
                        "feedback": list(q.feedback) if q else [], "error": cap.error.value if cap.error else None}
            res = d.device.capture(timeout=3.0)
            return {"device": name, "ok": res.ok, "error": res.error.value if res.error else None}

        result = await asyncio.to_thread(run)
        hub.audit(ws.user or "?", "tech.device_test", name, {"ok": result.get("ok")})
        return await asyncio.to_thread(page, request, ws, result)

    def test_read(d) -> str | None:
        """The station owns the reader while it runs: take its next read (a sample one when simulated)."""
        if not hub.attached:
            res = d.device.capture(timeout=8.0)
            return res.sample.data.decode("utf-8", "replace") if res.ok and res.sample else None
        if hasattr(d.simulation, "present"):
            import random

            from edge.documents.synth import make_mrz

            threading.Timer(0.3, d.simulation.present, args=(make_mrz("TD3", rng=random.Random()),)).start()
        return hub.next_document(timeout=8.0)

    @r.get("/diagnostics.zip")
    async def diagnostics(request: Request) -> Response:
        ws = ui.session(request, "technician")

        def build() -> bytes:
            from edge.cli.doctor import check_runtimes

            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("config.json", json.dumps(masked(hub.cfg), indent=2, default=str))
                z.writestr("devices.json", json.dumps(device_rows(ui), indent=2))
                z.writestr("system.json", json.dumps(system_rows(ui), indent=2, default=str))
                z.writestr("runtimes.json", json.dumps(check_runtimes(), indent=2))
                z.writestr("audit_chain.json", json.dumps({"intact": hub.store.verify_audit_chain()}))
                z.writestr("platform.json", json.dumps({"python": platform.python_version(),
                                                        "machine": platform.machine(),
                                                        "system": platform.platform()}))
                z.writestr("logs.txt", "\n".join(ui.log_buffer.lines if ui.log_buffer else []) + "\n")
            return buf.getvalue()

        blob = await asyncio.to_thread(build)
        hub.audit(ws.user or "?", "tech.diagnostics_exported", "", {"bytes": len(blob)})
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return Response(blob, media_type="application/zip", headers={
            "content-disposition": f'attachment; filename="borderpost-diagnostics-{stamp}.zip"'})

    return r
