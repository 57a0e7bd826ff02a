"""Issue 16 over HTTP: a person without a document, a sealed protection referral, the reason a traveller is
told, the booth's confirmation, look-alike codes, the supervisor's audit view, lockout and throttling, speech."""

from __future__ import annotations

import io
import json
import logging
import re
import wave

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge.events.model import Crossing, CrossingV1, event_type
from edge.lane.queue import code_key
from edge.protection import SealedReferral, open_referral
from kiosk_ui import i18n
from kiosk_ui.security import SignInThrottle
from tests.support.broker import Collector
from tests.ui.conftest import OFFICER, TECH, wait_until
from tests.ui.test_http import client, kiosk_to_document, only_session, sign_in, token

SUPERVISOR = ("super1", "supervisor battery 9")
SECRET_NOTE = "ZQX-referral-note-7731"        # only inside the sealed referral


def protection_post(make_post, tmp_path):
    private = X25519PrivateKey.generate()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "protection.pub").write_bytes(pem)
    extra = f"""
[protection]
recipient_public_key = "{tmp_path}/protection.pub"
partners = [{{ code = "PARTNER-A", name = "Refuge Partner Alpha" }}]
"""
    return make_post(extra=extra), private


def test_person_without_a_document_is_recorded_and_referred_sealed(make_post, tmp_path, broker, caplog):
    post, private = protection_post(make_post, tmp_path)
    collector = Collector(broker.port, "borderpost/v1/#", client_id="ui-people")
    try:
        with caplog.at_level(logging.DEBUG):
            officer = sign_in(post)
            form = officer.get("/booth/undocumented")
            assert form.status_code == 200 and 'name="reason"' in form.text
            bad = officer.post("/booth/undocumented", data={"csrf": token(form.text), "surname": "Doe",
                                                            "reason": "lost"})
            assert bad.status_code == 422 and i18n.translate("en", "booth.nodoc.need_birth_or_age") in bad.text
            r = officer.post("/booth/undocumented", data={
                "csrf": token(bad.text), "surname": "Amani", "given_names": "Noor", "estimated_age": "15",
                "nationality": "sdn", "sex": "F", "reason": "destroyed", "photo": "1"})
            assert r.status_code == 200 and r.url.path.startswith("/booth/t/")
            code = r.url.path.rsplit("/", 1)[1]
            assert "AMANI" not in r.text and "Amani" in r.text and "face_live.jpg" in r.text   # the booth photo
            assert officer.get(f"/booth/t/{code}/img/face_live.jpg").headers["content-type"] == "image/jpeg"
            q = post.lane.get(code)
            assert q.document is None and q.declared.reason == "destroyed" and "document.none" in q.alerts
            answers = {f"q_{x.id}": "yes" if x.id in ("child_alone", "asylum") else "no"
                       for x in post.lane.referrals.settings.questions}
            r = officer.post(f"/booth/t/{code}/screening", data={"csrf": token(r.text), **answers,
                                                                 "partner": "PARTNER-A", "note": SECRET_NOTE})
            assert r.status_code == 200 and 'id="referral-sealed"' in r.text
            r = officer.post(f"/booth/t/{code}/decide", data={"csrf": token(r.text), "outcome": "refer",
                                                              "direction": "entry", "note": ""})
            assert r.status_code == 200 and code not in [x.code for x in post.lane.queue()]

            def crossing():
                for p in collector.payloads("events/crossing"):
                    ev = json.loads(p)
                    if ev["data"]["transaction"] == code:
                        return ev
                return None

            assert collector.wait_for(lambda c: crossing() is not None, 20)
            ev = crossing()
            assert ev["type"] == "org.borderpost.crossing.v2" == event_type("crossing")
            data = ev["data"]
            Crossing.model_validate(data)
            assert data["document"] is None and data["declared_identity"]["estimated_age"] == 15
            assert data["declared_identity"]["nationality"] == "SDN" and data["decision"]["outcome"] == "refer"
            sealed = SealedReferral(crossing_id=ev["id"], **data["protection"])
            referral = open_referral(sealed, private)
            assert referral.partner == "PARTNER-A" and referral.note == SECRET_NOTE
            assert referral.indicators == ["child.unaccompanied_or_separated", "asylum.request"]
            assert referral.declared_identity["surname"] == "Amani" and referral.officer == OFFICER[0]

            # nowhere in clear: booth lists and pages, the audit view, the console, the logs, what was sent, the store
            sup = post.server.accounts.add(SUPERVISOR[0], "Sup", "supervisor", SUPERVISOR[1])
            assert sup.role == "supervisor"
            supervisor = sign_in(post, "booth", SUPERVISOR)
            tech = sign_in(post, "tech", TECH)
            pages = [officer.get("/booth").text, supervisor.get("/booth/audit").text,
                     supervisor.get(f"/booth/audit?officer={OFFICER[0]}").text]
            pages += [tech.get(p).text for p in ("/tech", "/tech?lang=fr")]
        logs = "\n".join(rec.getMessage() for rec in caplog.records)
        sent = b"\n".join(collector.payloads(""))
        store_text = "\n".join(str(row) for row in post.lane.store.conn.execute(
            "SELECT * FROM audit").fetchall() + post.lane.store.conn.execute("SELECT summary FROM events").fetchall())
        for secret in (SECRET_NOTE, "PARTNER-A", "Refuge Partner Alpha", "asylum.request", "child.unaccompanied"):
            for name, text in [*((f"page{i}", p) for i, p in enumerate(pages)), ("logs", logs), ("store", store_text)]:
                assert secret not in text, f"{secret!r} in clear in {name}"
            assert secret.encode() not in sent
        assert "booth.screened" in store_text
    finally:
        collector.close()


def test_v1_events_still_validate_for_old_appliances():
    old = {"schema_version": 1, "post": "p", "device": "d", "role": "kiosk", "transaction": "T",
           "document": {"surname": "X"}, "decision": {"outcome": "recorded", "by": "kiosk"}}
    assert event_type("crossing_v1") == "org.borderpost.crossing.v1"
    CrossingV1.model_validate(old)
    from edge.events.envelope import _kind_of
    assert _kind_of("org.borderpost.crossing.v1") == "crossing_v1"
    assert _kind_of("org.borderpost.crossing.v2") == "crossing"


def test_expired_passport_gets_its_reason_in_arabic(make_post):
    post = make_post()
    k = kiosk_to_document(post, "ar")
    post.present(expired=True)
    s = only_session(post)
    assert wait_until(lambda: s.finished, 30)
    page = k.get("/kiosk").text
    assert i18n.translate("ar", "result.document_expired") in page and 'dir="rtl"' in page
    assert "alert" not in s.message()


def test_alert_hit_is_never_the_reason_told(make_post):
    from edge.lane.checks import SEE_OFFICER, verdict
    from edge.lane.session import Ending, Rules, Session

    s = Session("AAAA-BBBB", Rules(), now=0.0)
    s.ending = Ending.HANDOVER
    s.verdicts["alerts.lists"] = verdict("alerts.lists", "fail", ["alerts.hit"], SEE_OFFICER)
    assert s.message() == SEE_OFFICER
    s.reasons = ["document.unreadable"]
    assert s.message() == "result.document_unreadable"


def test_admit_over_a_warning_asks_for_confirmation_and_records_it(make_post, broker):
    post = make_post()
    kiosk_to_document(post)
    post.present(expired=True)
    s = only_session(post)
    assert wait_until(lambda: s.finished, 30)
    officer = sign_in(post)
    queue = officer.get("/booth")
    # typed in lower case with a look-alike: still the transaction
    typed = s.code.lower().replace("d", "0").replace("q", "o")
    view = officer.post("/booth/find", data={"csrf": token(queue.text), "q": typed})
    assert view.url.path == f"/booth/t/{s.code}" and 'id="confirm-admit"' in view.text
    r = officer.post(f"/booth/t/{s.code}/decide", data={"csrf": token(view.text), "outcome": "admit",
                                                        "direction": "entry"})
    assert 'id="decision-error"' in r.text and s.code in [q.code for q in post.lane.queue()]
    r = officer.post(f"/booth/t/{s.code}/decide", data={"csrf": token(r.text), "outcome": "admit",
                                                        "direction": "entry", "confirm": "1"})
    assert s.code not in [q.code for q in post.lane.queue()]
    decided = [e for e in post.lane.store.audit_entries() if e["action"] == "booth.decided"]
    assert json.loads(decided[0]["detail"])["over_warning"] is True


def test_look_alike_codes_fold_together():
    assert code_key("k7qx-m4ta") == code_key("K7QX-M4TA") == code_key(" K7QX M4TA ")
    assert code_key("D0Q0") == code_key("OOOO") and code_key("L1I1") == code_key("1111")
    assert code_key("K7QX-M4TA") != code_key("K7QX-M4TE")


def test_audit_view_is_the_supervisors_and_filters_by_officer(make_post):
    post = make_post()
    post.server.accounts.add(SUPERVISOR[0], "Sup", "supervisor", SUPERVISOR[1])
    officer = sign_in(post)
    officer.get("/booth")
    assert officer.get("/booth/audit").status_code == 403          # an officer does not see it
    sup = sign_in(post, "booth", SUPERVISOR)
    assert 'id="audit-link"' in sup.get("/booth").text
    page = sup.get(f"/booth/audit?officer={OFFICER[0]}").text
    actors = set(re.findall(r'class="actor">([^<]+)<', page))
    assert actors == {OFFICER[0]}
    everyone = sup.get("/booth/audit").text
    assert SUPERVISOR[0] in re.findall(r'class="actor">([^<]+)<', everyone)


def test_signin_is_throttled_per_client_before_any_account_is_touched(make_post):
    post = make_post()
    post.server.app.state.ui.throttle = SignInThrottle(limit=3, window=60)
    c = client(post)
    codes = []
    for _ in range(5):
        page = c.get("/booth/signin")
        codes.append(c.post("/booth/signin", data={"csrf": token(page.text), "user": OFFICER[0],
                                                    "password": "guess-guess-1"}).status_code)
    assert codes == [401, 401, 401, 429, 429]
    acct = post.server.accounts.get(OFFICER[0])
    assert acct.failures == 3 and not acct.locked_until     # throttled attempts never counted towards a lock-out


def test_spoken_prompts_play_in_every_language(make_post):
    post = make_post()
    for lang in ("ar", "en", "fr"):
        k = kiosk_to_document(post, lang)
        page = k.get("/kiosk").text
        page = k.post("/kiosk/prefs", data={"csrf": token(page), "toggle": "speech"}).text
        assert 'id="speech"' in page and 'aria-pressed="true"' in page
        r = k.get("/kiosk/speech.wav")
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(r.content)) as w:
            seconds = w.getnframes() / w.getframerate()
        assert 1.0 < seconds < 30.0, seconds
        for kid in list(post.lane.kiosks):
            post.lane.forget_kiosk(kid)


@pytest.mark.parametrize("bad", ["", "x" * 81])
def test_bad_declared_identity_is_refused_in_one_line(make_post, bad):
    post = make_post()
    officer = sign_in(post)
    form = officer.get("/booth/undocumented")
    r = officer.post("/booth/undocumented", data={"csrf": token(form.text), "surname": bad[:80] if bad else "",
                                                  "birth_date": "1990-02-30", "reason": "lost"})
    assert r.status_code == 422 and "Traceback" not in r.text



def test_kiosk_questions_are_answered_in_the_travellers_language_and_reach_the_event(make_post, broker):
    post = make_post()
    collector = Collector(broker.port, "borderpost/v1/#", client_id="ui-questions")
    try:
        k = kiosk_to_document(post, "fr")
        post.present()
        s = only_session(post)
        assert wait_until(lambda: s.finished, 30)
        page = k.get("/kiosk").text
        assert "Quel est le but principal de votre voyage ?" in page and 'name="stay"' in page
        r = k.post("/kiosk/answers", data={"csrf": token(page), "purpose": "family", "stay": "8_to_30"})
        assert 'name="stay"' not in r.text and s.answers == {"purpose": "family", "stay": "8_to_30"}
        bad = k.post("/kiosk/answers", data={"csrf": token(r.text), "purpose": "smuggling"})
        assert bad.status_code == 200 and s.answers["purpose"] == "family"
        officer = sign_in(post)
        view = officer.get(f"/booth/t/{s.code}")
        officer.post(f"/booth/t/{s.code}/decide", data={"csrf": token(view.text), "outcome": "refer",
                                                        "direction": "entry"})

        def answers():
            for p in collector.payloads("events/crossing"):
                data = json.loads(p)["data"]
                if data["transaction"] == s.code:
                    return data["answers"]
            return None

        assert collector.wait_for(lambda c: answers() is not None, 20)
        assert answers() == {"purpose": "family", "stay": "8_to_30"}
    finally:
        collector.close()


def test_manual_mrz_entry_is_validated_and_opens_the_transaction(make_post):
    import random
    from datetime import date

    from drivers.contract import DeviceKind
    from edge.documents.synth import make_mrz

    post = make_post()
    kiosk_to_document(post)
    lines = make_mrz("TD3", rng=random.Random(5), expiry_date=date(2020, 1, 31))
    post.lane.devices.first(DeviceKind.MRZ).simulation.present(lines)
    s = only_session(post)
    assert wait_until(lambda: s.finished, 30)
    officer = sign_in(post)
    page = officer.get("/booth/mrz")
    assert page.status_code == 200 and 'id="lines"' in page.text
    typo = "\n".join(lines).replace(lines[1][:9], lines[1][:8] + ("0" if lines[1][8] != "0" else "1"), 1)
    check = officer.post("/booth/mrz/check", json={"lines": typo}).json()
    assert check["valid"] is False and check["errors"]
    good = officer.post("/booth/mrz/check", json={"lines": "\n".join(lines).lower()}).json()
    assert good["valid"] is True and good["fields"]["surname"]
    r = officer.post("/booth/mrz", data={"csrf": token(page.text), "lines": "\n".join(lines)})
    assert r.url.path == f"/booth/t/{s.code}"
    kiosk = client(post)
    assert kiosk.post("/booth/mrz/check", json={"lines": "x"}).status_code == 403   # officers only


def test_person_without_a_document_may_give_fingerprints(make_post):
    from edge.lane import demo
    from tests.ui.test_http import FINGER_POLICY

    post = make_post(extra=FINGER_POLICY)
    officer = sign_in(post)
    form = officer.get("/booth/undocumented")
    assert 'id="nodoc-fingers"' in form.text
    demo.finger_on(post.lane.devices)
    officer.timeout = 90      # the capture runs within the request: two fingers, one attempt each
    r = officer.post("/booth/undocumented", data={
        "csrf": token(form.text), "surname": "Haddad", "birth_date": "1988-04-02", "reason": "lost",
        "fingers": "1"})
    code = r.url.path.rsplit("/", 1)[1]
    q = post.lane.get(code)
    assert [f.finger for f in q.fingerprints] == ["right_index", "left_index"]
    assert "finger_right_index.png" in r.text and q.declared.birth_date == "1988-04-02"


def test_a_finger_left_on_the_booth_sensor_is_not_taken_for_the_next(make_post):
    from drivers.contract import DeviceKind
    from edge.lane.options import Options
    from tests.ui.test_http import FINGER_POLICY

    post = make_post(Options(finger_attempt_s=2.0), extra=FINGER_POLICY)
    officer = sign_in(post)
    form = officer.get("/booth/undocumented")
    post.lane.devices.first(DeviceKind.FINGERPRINT).simulation.finger_on()    # placed, and left there
    officer.timeout = 60
    r = officer.post("/booth/undocumented", data={
        "csrf": token(form.text), "surname": "Haddad", "birth_date": "1988-04-02", "reason": "lost",
        "fingers": "1"})
    q = post.lane.get(r.url.path.rsplit("/", 1)[1])
    right, left = q.fingerprints
    assert right.finger == "right_index" and right.acceptable
    assert left.finger == "left_index" and not left.acceptable and left.feedback == ["finger.lift"]
    assert "finger_left_index.png" not in r.text
