"""The technician console's system update page: /tech/update. Shows the A/B slots (RAUC), installs a bundle
waiting on the data partition (put there over ssh: `borderpost update install` docs) in the background, rolls
back. Bundles are not uploaded through the browser: the console's request size limit stays small, and a
bundle is hundreds of MB. Texts in the three console languages are kept here, with the page."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from edge.update import rauc
from kiosk_ui.security import issue_token
from kiosk_ui.web import UI, Denied

BUNDLE_NAME = re.compile(r"^[A-Za-z0-9._+-]{1,120}\.raucb$")
TEXTS: dict[str, dict[str, str]] = {
    "en": {"title": "System update", "slots": "Slots", "booted": "Running slot", "next": "Next boot",
           "waiting": "Bundles on the device", "none": "No bundle on the device: copy one with "
           "`borderpost update install -` over ssh, or ask the agency for a remote update.",
           "install": "Install", "rollback": "Boot the other slot next", "job": "Last install",
           "reboot": "Installed: the new system runs from the next reboot.", "back": "Back to the console"},
    "fr": {"title": "Mise à jour du système", "slots": "Emplacements", "booted": "Emplacement en service",
           "next": "Prochain démarrage", "waiting": "Paquets présents sur l'appareil", "none": "Aucun paquet sur "
           "l'appareil : copiez-en un avec `borderpost update install -` par ssh, ou demandez une mise à jour à "
           "distance à l'agence.", "install": "Installer", "rollback": "Démarrer l'autre emplacement ensuite",
           "job": "Dernière installation", "reboot": "Installé : le nouveau système démarre au prochain "
           "redémarrage.", "back": "Retour à la console"},
    "ar": {"title": "تحديث النظام", "slots": "الخانات", "booted": "الخانة العاملة", "next": "الإقلاع التالي",
           "waiting": "الحزم الموجودة على الجهاز", "none": "لا توجد حزمة على الجهاز: انسخ واحدة عبر ssh "
           "بالأمر `borderpost update install -` أو اطلب تحديثًا عن بُعد من الوكالة.", "install": "تثبيت",
           "rollback": "الإقلاع من الخانة الأخرى في المرة القادمة", "job": "آخر تثبيت",
           "reboot": "تم التثبيت: يعمل النظام الجديد بعد إعادة التشغيل التالية.", "back": "العودة إلى وحدة التحكم"},
}


class InstallJob:
    """One install at a time, in a thread; its progress and outcome for the page."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {}
        self.thread: threading.Thread | None = None

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, bundle: Path) -> None:
        self.state = {"bundle": bundle.name, "percent": 0, "step": "", "ok": None, "error": None}
        self.thread = threading.Thread(target=self._run, args=(bundle,), name="tech-update", daemon=True)
        self.thread.start()

    def _run(self, bundle: Path) -> None:
        def progress(p: rauc.Progress) -> None:
            with self.lock:
                self.state.update(percent=p.percent, step=p.message)

        try:
            rauc.install(bundle, progress)
            outcome: dict[str, Any] = {"ok": True}
        except rauc.UpdateError as exc:
            outcome = {"ok": False, "error": str(exc)}
        with self.lock:
            self.state.update(outcome)


def router(ui: UI) -> APIRouter:
    r = APIRouter(prefix="/update")
    job = InstallJob()
    lane = ui.lane

    def incoming() -> Path:
        return Path(lane.cfg.store.path).parent / "update"

    def page(request: Request, ws: Any) -> Response:
        lang = ui.language(request, ws)
        try:
            status, problem = rauc.status(), None
        except rauc.UpdateError as exc:
            status, problem = None, str(exc)
        bundles = sorted((p.name, round(p.stat().st_size / 2**20, 1)) for p in incoming().glob("*.raucb")
                         if p.is_file())
        with job.lock:
            state = dict(job.state)
        return ui.render(request, "tech/update.html", lang, csrf=issue_token(ws), user=ws.user, area="tech",
                         u=TEXTS.get(lang, TEXTS["en"]), rauc_status=status, problem=problem, bundles=bundles,
                         job=state, running=job.running(), idle_s=ui.options.officer_idle_s,
                         idle_warn_s=ui.options.officer_idle_warn_s)

    @r.get("")
    async def view(request: Request) -> Response:
        ws = ui.session(request, "technician")
        return await asyncio.to_thread(page, request, ws)

    @r.post("/install")
    async def install(request: Request) -> Response:
        ws = ui.session(request, "technician")
        form = await ui.form(request, ws, {"bundle": 130})
        name = str(form.get("bundle") or "")
        if not BUNDLE_NAME.match(name) or not (incoming() / name).is_file():
            raise Denied(404, "no such bundle on the device")
        if job.running():
            raise Denied(409, "an install is already running")
        job.start(incoming() / name)
        lane.audit(ws.user or "?", "tech.update_install", name, {})
        return RedirectResponse("/tech/update", status_code=303)

    @r.post("/rollback")
    async def rollback(request: Request) -> Response:
        ws = ui.session(request, "technician")
        await ui.form(request, ws, {})
        try:
            await asyncio.to_thread(rauc.mark, "active", "other")
            ok, error = True, None
        except rauc.UpdateError as exc:
            ok, error = False, str(exc)
        lane.audit(ws.user or "?", "tech.update_rollback", "", {"ok": ok})
        with job.lock:
            job.state = {"bundle": "rollback", "percent": 100, "step": "", "ok": ok, "error": error}
        return RedirectResponse("/tech/update", status_code=303)

    return r
