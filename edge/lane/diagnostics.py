"""What the technician's console asks of the post: device state and test captures, the broker, runtimes.

Test reads never return personal data: an MRZ test read reports the format and which checks passed.
"""

from __future__ import annotations

import random
import re
import shutil
import socket
import ssl
import threading
from typing import Any

import cv2

from drivers.contract import DeviceKind
from edge.config import Config
from edge.lane.media import jpeg

MRZ_LIKE = re.compile(r"[A-Z0-9<]{20,}")


class NoSuchDevice(LookupError):
    pass


def scrub(text: str) -> str:
    """Remove anything that could be an MRZ line or a document number from a line of text."""
    return MRZ_LIKE.sub("[redacted]", text)


def check_broker(cfg: Config, timeout: float = 3.0) -> dict[str, Any]:
    """TCP (and TLS) reachability; the uplink's own status says whether it is connected."""
    b = cfg.broker
    row: dict[str, Any] = {"name": "broker", "url": b.url}
    try:
        with socket.create_connection((b.host, b.port), timeout=timeout) as sock:
            if b.tls:
                ctx = ssl.create_default_context(cafile=str(b.ca_file) if b.ca_file else None)
                if b.cert_file and b.key_file:
                    ctx.load_cert_chain(str(b.cert_file), str(b.key_file))
                with ctx.wrap_socket(sock, server_hostname=b.host):
                    pass
    except (OSError, ssl.SSLError) as exc:
        return {**row, "ok": False, "status": "unreachable",
                "detail": f"{exc}; events wait in the store until it is back"}
    return {**row, "ok": True, "status": "reachable", "detail": ""}


def check_runtimes() -> list[dict[str, Any]]:
    """ML runtimes, the face models and the MRZ scan: reported, never fatal (a kiosk without a camera needs neither)."""
    from edge.biometrics.face import models, runtimes
    from edge.documents import fastpath

    rows = [{"name": f"runtime:{name}", "ok": True, "status": "usable" if why is None else "absent",
             "detail": why or "", "optional": True} for name, why in runtimes.available().items()]
    directory = models.models_dir()
    states = models.verify(directory)
    bad = {k: v.value for k, v in states.items() if v is not models.ModelState.OK}
    rows.append({"name": "face models", "ok": True, "status": "verified" if not bad else "not verified",
                 "detail": str(directory) if not bad else f"{bad}; run `borderpost models fetch`",
                 "optional": True})
    compiled = fastpath.IMPLEMENTATION == "compiled"
    rows.append({"name": "mrz scan", "ok": True, "status": fastpath.IMPLEMENTATION,
                 "detail": "" if compiled else "no C compiler at install: the same checks, about 2x slower",
                 "optional": True})
    return rows


def device_rows(lane: Any) -> list[dict[str, Any]]:
    rows = []
    for name, d in lane.devices.devices.items():
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


def system_rows(lane: Any) -> dict[str, Any]:
    st = lane.store.stats()
    disk = shutil.disk_usage(lane.store.path.parent)
    return {"broker": check_broker(lane.cfg, timeout=1.0), "pending": st.pending, "parked": st.parked,
            "delivered": st.delivered, "oldest": st.oldest_pending_age_s,
            "db_mb": round(st.db_size_bytes / 2**20, 2), "disk_free_mb": disk.free // 2**20,
            "capacity_problem": lane.store.capacity_problem()}


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


def _device(lane: Any, name: str, kind: DeviceKind | None = None) -> Any:
    d = lane.devices.devices.get(name)
    if d is None or d.device is None or (kind is not None and d.device.kind is not kind):
        raise NoSuchDevice(name)
    return d


def camera_test(lane: Any, name: str) -> bytes:
    """One frame with the face box and quality score (or the page check) drawn on it; b'' when none came."""
    cam = _device(lane, name, DeviceKind.CAMERA).device
    res = cam.capture(timeout=3.0)
    if not res.ok or res.sample is None:
        return b""
    img = res.sample.data.copy()
    analyzer = lane.steps.analyzer()
    label = "face analysis unavailable"
    if name == lane.cfg.policy.portrait_camera:
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


def _test_read(lane: Any, d: Any) -> str | None:
    """The station owns the reader while it runs: take its next read (a sample one when simulated)."""
    if not lane.attached:
        res = d.device.capture(timeout=8.0)
        return res.sample.data.decode("utf-8", "replace") if res.ok and res.sample else None
    if hasattr(d.simulation, "present"):
        from edge.documents.synth import make_mrz

        threading.Timer(0.3, d.simulation.present, args=(make_mrz("TD3", rng=random.Random()),)).start()
    return lane.next_document(timeout=8.0)


def device_test(lane: Any, name: str) -> dict[str, Any]:
    """A test capture on one device: what worked, never what was read."""
    d = _device(lane, name)
    kind = d.device.kind
    if kind is DeviceKind.MRZ:
        from edge.lane.document import document_summary

        text = _test_read(lane, d)
        if text is None:
            return {"device": name, "ok": False, "error": "no-sample"}
        doc = document_summary(text, name)
        return {"device": name, "ok": True, "format": doc.format, "valid": doc.valid,
                "checks": doc.checks, "errors": doc.errors}
    if kind is DeviceKind.FINGERPRINT:
        from edge.lane.finger_capture import capture_finger

        cap = capture_finger(d.device, "right_index", timeout=10.0, retries=0)
        q = cap.quality
        return {"device": name, "ok": cap.ok, "score": round(q.score, 1) if q else None,
                "feedback": list(q.feedback) if q else [], "error": cap.error.value if cap.error else None}
    res = d.device.capture(timeout=3.0)
    return {"device": name, "ok": res.ok, "error": res.error.value if res.error else None}
