"""The UIs over plain HTTP: the whole flow to the broker, and every kind of bad input refused."""

from __future__ import annotations

import html
import json
import logging
import re

import httpx
import pytest

from drivers.contract import DeviceKind
from edge.lane.options import Options
from kiosk_ui.kiosk import spoken_text
from tests.support.broker import Collector
from tests.ui.conftest import OFFICER, TECH, wait_until

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def token(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def client(post) -> httpx.Client:
    return httpx.Client(base_url=post.url, follow_redirects=True, timeout=10)


def sign_in(post, area: str = "booth", creds=OFFICER) -> httpx.Client:
    c = client(post)
    page = c.get(f"/{area}/signin")
    r = c.post(f"/{area}/signin", data={"csrf": token(page.text), "user": creds[0], "password": creds[1]})
    assert r.status_code == 200 and "signout" in r.text
    return c


def kiosk_to_document(post, lang: str = "en") -> httpx.Client:
    c = client(post)
    r = c.get(f"/kiosk?lang={lang}")
    r = c.post("/kiosk/action", data={"csrf": token(r.text), "action": "language", "arg": lang})
    assert 'data-step="document"' in r.text
    return c


def only_session(post):
    sessions = list(post.lane.kiosks.values())
    assert len(sessions) == 1
    return sessions[0]


def test_kiosk_to_booth_decision_reaches_the_broker(make_post, broker):
    post = make_post()
    collector = Collector(broker.port, "borderpost/v1/#", client_id="ui-http")
    try:
        k = kiosk_to_document(post, "fr")
        post.present()
        s = only_session(post)
        assert wait_until(lambda: s.finished, 30), s.step
        assert s.ending.value == "complete" and s.face.match
        page = k.get("/kiosk")
        assert s.code in page.text and 'lang="fr"' in page.text and "data:image/svg+xml" in page.text

        officer = sign_in(post)
        queue = officer.get("/booth")
        assert s.code in queue.text
        view = officer.post("/booth/find", data={"csrf": token(queue.text), "q": s.code.lower()})
        assert view.url.path == f"/booth/t/{s.code}" and "face_live.jpg" in view.text
        assert officer.get(f"/booth/t/{s.code}/img/face_live.jpg").headers["content-type"] == "image/jpeg"
        r = officer.post(f"/booth/t/{s.code}/decide", data={"csrf": token(view.text), "outcome": "admit",
                                                           "direction": "entry", "note": "ok"})
        assert r.status_code == 200 and s.code not in [q.code for q in post.lane.queue()]

        def arrived(c):
            for p in c.payloads("events/crossing"):
                data = json.loads(p)["data"]
                if data["transaction"] == s.code:
                    return data
            return None

        assert collector.wait_for(lambda c: arrived(c) is not None, 20)
        data = arrived(collector)
        assert data["decision"] == {"outcome": "admit", "by": OFFICER[0], "reason_codes": [], "note": "ok"}
        assert data["direction"] == "entry" and data["face"]["match"] is True
        actions = [(e["actor"], e["action"]) for e in post.lane.store.audit_entries()]
        assert (OFFICER[0], "booth.viewed") in actions and (OFFICER[0], "booth.decided") in actions
        assert (OFFICER[0], "crossing.recorded") in actions and post.lane.store.verify_audit_chain()
    finally:
        collector.close()


def test_expired_document_is_handed_over_and_cancel_records_abandoned(make_post):
    post = make_post()
    kiosk_to_document(post)
    post.present(expired=True)
    s = only_session(post)
    assert wait_until(lambda: s.finished, 10)
    assert s.ending.value == "handover" and s.reasons == ["document.expired"]
    q = post.lane.get(s.code)
    assert q is not None and q.alerts == ["document.expired"]


def test_security_headers_and_no_cache(make_post):
    post = make_post()
    r = client(post).get("/kiosk")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/kiosk" in cookie
    assert "<script>" not in r.text and " on" + "click=" not in r.text   # no inline script


def test_csrf_missing_forged_and_replayed_are_refused(make_post, caplog):
    post = make_post()
    c = client(post)
    t = token(c.get("/kiosk").text)
    assert c.post("/kiosk/action", data={"action": "help"}).status_code == 403
    assert c.post("/kiosk/action", data={"csrf": "forged", "action": "help"}).status_code == 403
    assert c.post("/kiosk/action", data={"csrf": t, "action": "language", "arg": "en"}).status_code == 200
    with caplog.at_level(logging.WARNING, "borderpost.ui.security"):
        assert c.post("/kiosk/action", data={"csrf": t, "action": "cancel"}).status_code == 403
    assert any("CSRF" in r.getMessage() for r in caplog.records)


def test_tampered_fields_are_refused(make_post):
    post = make_post()
    c = client(post)
    page = c.get("/kiosk")
    assert c.post("/kiosk/action", data={"csrf": token(page.text), "action": "admit"}).status_code == 422
    page = c.get("/kiosk")
    assert c.post("/kiosk/action", data={"csrf": token(page.text), "action": "language",
                                         "arg": "../../etc"}).status_code == 422
    page = c.get("/kiosk")
    assert c.post("/kiosk/action", data={"csrf": token(page.text), "action": "help",
                                         "role": "officer"}).status_code == 422
    officer = sign_in(post)
    post.lane.kiosks.clear()
    k = kiosk_to_document(post)
    post.present(expired=True)
    assert wait_until(lambda: post.lane.queue(), 10)
    code = post.lane.queue()[0].code
    view = officer.get(f"/booth/t/{code}")
    bad = officer.post(f"/booth/t/{code}/decide", data={"csrf": token(view.text), "outcome": "admit",
                                                       "direction": "sideways"})
    assert bad.status_code == 422
    view = officer.get(f"/booth/t/{code}")
    bad = officer.post(f"/booth/t/{code}/decide", data={"csrf": token(view.text), "outcome": "refuse",
                                                       "direction": "entry", "reason": "R_Z"})
    assert bad.status_code == 422
    view = officer.get(f"/booth/t/{code}")
    no_reason = officer.post(f"/booth/t/{code}/decide", data={"csrf": token(view.text), "outcome": "refuse",
                                                             "direction": "entry"})
    assert no_reason.url.query == b"e=booth.need_reason" and post.lane.get(code) is not None
    k.close()


def test_kiosk_cannot_reach_officer_or_technician_routes(make_post):
    post = make_post()
    c = httpx.Client(base_url=post.url, follow_redirects=False)
    kiosk_cookie = c.get("/kiosk").cookies["bp_kiosk"]
    c.cookies.set("bp_booth", kiosk_cookie)
    c.cookies.set("bp_tech", kiosk_cookie)
    for path in ("/booth", "/booth/t/ACDE-FGHJ", "/tech", "/tech/diagnostics.zip"):
        r = c.get(path)
        assert r.status_code == 403, path
    r = c.post("/booth/find", data={"q": "x"})
    assert r.status_code == 403


def test_cookie_of_another_role_is_refused(make_post):
    post = make_post()
    officer = sign_in(post)
    booth_cookie = officer.cookies["bp_booth"]
    thief = httpx.Client(base_url=post.url)
    thief.cookies.set("bp_tech", booth_cookie)
    thief.cookies.set("bp_kiosk", booth_cookie)
    assert thief.get("/tech").status_code == 403
    assert thief.get("/kiosk/camera.jpg").status_code == 403
    # the officer's own area still works
    assert officer.get("/booth").status_code == 200


def test_path_traversal_and_unknown_images_are_404(make_post):
    post = make_post()
    officer = sign_in(post)
    for path in ("/static/../web.py", "/static/%2e%2e/web.py", "/static/..%2fweb.py",
                 "/booth/t/ACDE-FGHJ/img/..%2f..%2fstore.db", "/booth/t/ACDE-FGHJ/img/face_live.jpg",
                 "/booth/t/..%2f..%2fetc/img/face_live.jpg", "/tech/camera/..%2fmrz.jpg"):
        r = officer.get(path)
        assert r.status_code in (403, 404), path
        assert b"import" not in r.content
    assert officer.get("/static/app.css").status_code == 200


def test_huge_upload_is_413(make_post):
    post = make_post()
    c = client(post)
    t = token(c.get("/kiosk").text)
    r = c.post("/kiosk/action", data={"csrf": t, "action": "help", "arg": "x" * 200_000})
    assert r.status_code == 413

    def chunks():
        for _ in range(100):
            yield b"a" * 10_000

    r = c.post("/kiosk/action", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_live_update_stream_flood_is_limited(make_post):
    post = make_post(Options(max_streams_per_client=2))
    c = httpx.Client(base_url=post.url, timeout=10)
    c.get("/kiosk")
    streams = []
    try:
        for _ in range(2):
            streams.append(c.send(c.build_request("GET", "/kiosk/stream"), stream=True))
        assert all(s.status_code == 200 for s in streams)
        assert c.get("/kiosk/stream").status_code == 429
    finally:
        for s in streams:
            s.close()


def test_signin_lockout_and_wrong_role(make_post, caplog):
    post = make_post(Options(max_failures=3, lockout_s=60))
    c = client(post)
    with caplog.at_level(logging.INFO, "borderpost"):
        for _ in range(3):
            page = c.get("/booth/signin")
            r = c.post("/booth/signin", data={"csrf": token(page.text), "user": OFFICER[0], "password": "wrong-guess!"})
            assert r.status_code == 401
        page = c.get("/booth/signin")
        r = c.post("/booth/signin", data={"csrf": token(page.text), "user": OFFICER[0], "password": OFFICER[1]})
        assert r.status_code == 401 and "wait a few minutes" in r.text   # locked, but the page does not say so
        page = c.get("/booth/signin")
        unknown = c.post("/booth/signin", data={"csrf": token(page.text), "user": "nobody", "password": "x" * 12})
        assert unknown.status_code == 401   # the same words for an account that does not exist
        assert re.sub(r'value="[^"]+"', "", unknown.text) == re.sub(r'value="[^"]+"', "", r.text)
    assert all("wrong-guess" not in rec.getMessage() for rec in caplog.records)
    page = c.get("/booth/signin")
    r = c.post("/booth/signin", data={"csrf": token(page.text), "user": TECH[0], "password": TECH[1]})
    assert r.status_code == 401   # a technician is not an officer
    sign_in(post, "tech", TECH)


def test_officer_idle_session_expires(make_post):
    post = make_post(Options(officer_idle_s=1.0, officer_idle_warn_s=0.5))
    officer = sign_in(post)
    assert officer.get("/booth").url.path == "/booth"
    import time

    time.sleep(1.3)
    r = officer.get("/booth")
    assert r.url.path == "/booth/signin" and r.url.query == b"idle=1"


def test_technician_console_and_diagnostics_without_personal_data(make_post):
    post = make_post()
    kiosk_to_document(post)
    post.present(surname="SECRETNAME", document_number="ZX9876543")
    assert wait_until(lambda: only_session(post).finished, 30)
    tech = sign_in(post, "tech", TECH)
    page = tech.get("/tech")
    assert "mrz_serial" in page.text and "camera_sim" in page.text
    assert tech.get("/tech/camera/camera.jpg").headers["content-type"] == "image/jpeg"
    read = tech.post("/tech/test/mrz", data={"csrf": token(page.text)})   # through the running station
    assert read.status_code == 200 and '"valid": true' in html.unescape(read.text)
    assert "MUSTERMANN" not in read.text and "SECRETNAME" not in read.text
    z = tech.get("/tech/diagnostics.zip")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        blob = b"".join(zf.read(n) for n in zf.namelist())
        assert {"config.json", "devices.json", "logs.txt", "audit_chain.json"} <= set(zf.namelist())
    assert b"SECRETNAME" not in blob and b"ZX9876543" not in blob
    assert b"SECRETNAME" not in page.content


@pytest.mark.parametrize("lang", ["ar", "en", "fr"])
def test_language_is_remembered(make_post, lang):
    post = make_post()
    c = client(post)
    c.get(f"/kiosk?lang={lang}")
    r = c.get("/kiosk")
    assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}"' in r.text


FINGER_POLICY = ('[policy]\nfingerprints = ["right_index", "left_index"]\n\n'
                 '[devices.fingerprint]\nbackend = "finger_uareu4000"\nsimulated = true\n')


def test_fingerprint_step_takes_each_finger_the_post_asks_for(make_post):
    post = make_post(extra=FINGER_POLICY)
    k = kiosk_to_document(post, "ar")
    post.present()
    s = only_session(post)
    assert wait_until(lambda: s.step.value == "fingers", 30), s.step
    page = k.get("/kiosk")
    assert "سبابة اليد اليمنى" in page.text and "/kiosk/sim/finger" in page.text
    k.post("/kiosk/sim/finger", data={"csrf": token(page.text)})
    assert wait_until(lambda: s.finished, 30)
    assert s.ending.value == "complete" and [f.finger for f in s.fingerprints] == ["right_index", "left_index"]
    officer = sign_in(post)
    view = officer.get(f"/booth/t/{s.code}")
    assert "finger_right_index.png" in view.text
    assert officer.get(f"/booth/t/{s.code}/img/finger_right_index.png").headers["content-type"] == "image/png"


def test_a_finger_left_on_the_sensor_is_asked_to_lift_and_never_taken_twice(make_post):
    import time

    post = make_post(extra=FINGER_POLICY)
    k = kiosk_to_document(post)
    post.present()
    s = only_session(post)
    assert wait_until(lambda: s.step.value == "fingers", 30), s.step
    sensor = post.lane.devices.first(DeviceKind.FINGERPRINT).simulation
    sensor.finger_on()                                   # placed, and left there
    assert wait_until(lambda: s.feedback[:1] == ("finger.lift",), 30), (s.feedback, s.fingerprints)
    page = k.get("/kiosk")
    assert "Please lift your finger off the sensor." in page.text and 'data-finger="left_index"' in page.text
    assert spoken_text(s, "en") == ("Your fingerprints Please lift your finger off the sensor. "
                                    "Please place your left index finger on the sensor.")      # spoken too
    time.sleep(1.5)                                      # the finger stays: nothing more is taken
    assert [f.finger for f in s.fingerprints] == ["right_index"] and s.step.value == "fingers"
    sensor.finger_off()
    assert wait_until(lambda: "finger.lift" not in s.feedback, 10)
    sensor.finger_on()                                   # the left index, when asked
    assert wait_until(lambda: s.finished, 30)
    assert s.ending.value == "complete" and [f.finger for f in s.fingerprints] == ["right_index", "left_index"]


def test_decision_is_taken_once_and_a_crash_between_writes_is_reconciled(make_post):
    post = make_post()
    kiosk_to_document(post)
    post.present(expired=True)
    assert wait_until(lambda: post.lane.queue(), 10)
    code = post.lane.queue()[0].code
    post.lane.decide(code, "officer1", "refer", reasons=[], note="", direction="exit")
    from edge.lane.queue import DecisionError

    with pytest.raises(DecisionError):
        post.lane.decide(code, "officer1", "admit", reasons=[], note="", direction="entry")
    # simulate a crash after the crossing was recorded but before the queue row was removed
    post.lane.store.conn.execute("INSERT INTO queue(code, created_at, ending, data) VALUES (?, 0, 'handover', '{}')",
                                (code,))
    assert post.lane.queue() == [] and post.lane.reconcile() == 1
    assert post.lane.store.conn.execute("SELECT count(*) FROM queue").fetchone()[0] == 0


def test_cancel_after_the_document_records_an_abandoned_crossing(make_post):
    post = make_post()
    k = kiosk_to_document(post)
    post.lane.devices.first(DeviceKind.CAMERA
                           ).simulation.no_face()
    post.present()
    s = only_session(post)
    assert wait_until(lambda: s.step.value == "face", 10)
    page = k.get("/kiosk")
    k.post("/kiosk/action", data={"csrf": token(page.text), "action": "cancel"})
    assert s.ending.value == "abandoned"
    rows = post.lane.store.listing()
    assert any(r["transaction"] == s.code and r["outcome"] == "abandoned" for r in rows)
    assert post.lane.queue() == []


def test_kiosk_session_flood_is_bounded(make_post):
    post = make_post(Options(max_kiosk_screens=4))
    for _ in range(30):
        httpx.get(f"{post.url}/kiosk")
    ui = post.server.app.state.ui
    assert ui.sessions.count() <= 4 and len(post.lane.kiosks) <= 4


def test_transactions_nobody_opens_are_recorded_not_kept(make_post):
    import time

    post = make_post()
    kiosk_to_document(post)
    post.present(expired=True)
    assert wait_until(lambda: post.lane.queue(), 10)
    code = post.lane.queue()[0].code
    assert post.lane.expire_queue(now=time.time() + 60) == 0
    assert post.lane.expire_queue(now=time.time() + 13 * 3600) == 1
    assert post.lane.queue() == [] and post.lane.store.conn.execute("SELECT count(*) FROM queue").fetchone()[0] == 0
    rows = [r for r in post.lane.store.listing() if r["transaction"] == code]
    assert [(r["outcome"], r["by"]) for r in rows] == [("handover", "kiosk")]


def test_random_form_tampering_never_breaks_the_server(make_post):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    post = make_post()
    c = httpx.Client(base_url=post.url, timeout=10)
    officer = sign_in(post)
    fields = st.dictionaries(st.sampled_from(["action", "arg", "csrf", "kind", "toggle", "outcome", "reason",
                                              "q", "x" * 5, "note", "direction"]),
                             st.text(max_size=60), max_size=5)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fields, st.sampled_from(["/kiosk/action", "/kiosk/prefs", "/kiosk/sim/document", "/booth/find",
                                    "/booth/t/ACDE-FGHJ/decide"]), st.booleans())
    def check(data, path, with_token):
        who = officer if path.startswith("/booth") else c
        page = who.get("/booth" if path.startswith("/booth") else "/kiosk")
        if with_token:
            data = {**data, "csrf": token(page.text)}
        r = who.post(path, data=data)
        assert r.status_code in (200, 303, 400, 403, 404, 413, 422), (path, r.status_code)

    check()


def test_attended_booth_runs_the_same_transaction_from_a_document_read_at_the_desk(make_post, broker):
    post = make_post(role="booth")
    officer = sign_in(post)
    post.present()
    assert wait_until(lambda: post.lane.queue(), 30)
    q = post.lane.queue()[0]
    assert q.ending == "complete" and q.face.match is True
    assert post.lane.scanned[1] == q.code                               # the booth screen opens it
    assert wait_until(lambda: not post.lane.kiosks, 5)                  # no screen to reset: forgotten
    view = officer.get(f"/booth/t/{q.code}")
    r = officer.post(f"/booth/t/{q.code}/decide", data={"csrf": token(view.text), "outcome": "admit",
                                                       "direction": "exit"})
    assert r.status_code == 200 and post.lane.queue() == []


def test_websocket_upgrades_are_not_served(make_post):
    """Live updates are server-sent events; the server runs without a WebSocket protocol at all."""
    post = make_post()
    headers = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
               "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="}
    for path in ("/kiosk/stream", "/booth/stream", "/ws"):
        r = httpx.get(f"{post.url}{path}", headers=headers, timeout=5, follow_redirects=False)
        assert r.status_code != 101 and r.status_code in (303, 403, 404), (path, r.status_code)


def test_queued_photos_survive_a_restart_sealed_and_still_reach_the_agency(make_post, tmp_path):
    """A power cut between kiosk and booth: the officer still sees the photos, which waited sealed in the
    queue row (never in clear in the store), and the decision still sends the agency its sealed samples."""
    import sqlite3

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    agency = tmp_path / "agency_x25519.pem"
    agency.write_bytes(X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    extra = f'\n[keys]\nagency_encryption_public_key = "{agency}"\n'
    post = make_post(extra=extra)
    kiosk_to_document(post)
    post.present()
    s = only_session(post)
    assert wait_until(lambda: s.finished, 30) and s.ending.value == "complete"
    live = post.lane.images[s.code]["face_live.jpg"]
    post.stop()
    with sqlite3.connect(tmp_path / "store.db") as db:
        (blob,) = db.execute("SELECT samples FROM queue WHERE code = ?", (s.code,)).fetchone()
    assert blob and live not in blob and b"JFIF" not in blob

    again = make_post(extra=extra)
    assert s.code not in again.lane.images                            # nothing in memory: it comes from the row
    officer = sign_in(again)
    view = officer.get(f"/booth/t/{s.code}")
    assert view.status_code == 200 and "face_live.jpg" in view.text
    assert officer.get(f"/booth/t/{s.code}/img/face_live.jpg").content == live
    r = officer.post(f"/booth/t/{s.code}/decide", data={"csrf": token(view.text), "outcome": "admit",
                                                       "direction": "entry", "note": ""})
    assert r.status_code == 200
    kinds = [row["kind"] for row in again.lane.store.listing(limit=10)]
    assert kinds.count("biometrics") == 1
    assert again.lane.store.conn.execute("SELECT count(*) FROM queue").fetchone()[0] == 0   # gone with the row


def test_a_slow_portrait_does_not_hold_the_booth(make_post):
    """Imaging the data page takes up to seconds: it must run off the lane's lock (officers keep working), and
    the face step waits for it."""
    import threading

    post = make_post()
    stand_in = post.lane.portrait_provider
    started, release = threading.Event(), threading.Event()

    def slow(doc):
        started.set()
        release.wait(10)
        return stand_in(doc)

    post.lane.portrait_provider = slow
    kiosk_to_document(post)
    post.present()
    assert started.wait(10)
    assert post.lane.lock.acquire(timeout=1.0)        # the booth, the queue and other kiosks are not blocked
    post.lane.lock.release()
    officer = sign_in(post)
    assert officer.get("/booth").status_code == 200
    release.set()
    s = only_session(post)
    assert wait_until(lambda: s.finished, 30) and s.face.match is True    # compared with the late portrait
