"""Auto mode and the kiosk drive the same lane: the same traveller gives the same crossing event.

What may differ is named: the envelope (id, time, sequence, signature), the transaction code, who
decided (auto mode records at once, the kiosk's traveller waits for an officer), the officer's
direction, the sealed samples' id, and the face scores (the simulated camera's best frame depends on
timing; whether it matched, and the threshold, must agree).
"""

from __future__ import annotations

import json
import time

from tests.ui.conftest import wait_until
from tests.ui.test_http import kiosk_to_document, only_session, sign_in, token

SEED = 4242
UNCOMPARED = {"transaction", "decision", "direction", "biometric_samples"}
SCORES = {"quality", "match_score", "score"}


def crossings(post) -> list[dict]:
    with post.lane.lock:
        rows = [r for r in post.lane.store.listing(limit=50) if r["kind"] == "crossing"]
        return [json.loads(post.lane.store.payload(r["id"]))["data"] for r in rows]


def comparable(data: dict) -> dict:
    out = {k: v for k, v in data.items() if k not in UNCOMPARED}
    if out.get("face"):
        out["face"] = {k: v for k, v in out["face"].items() if k not in SCORES}
    out["checks"] = [{**v, "detail": {k: x for k, x in v["detail"].items() if k not in SCORES}}
                     for v in out.get("checks", [])]
    return out


def test_the_same_traveller_through_auto_mode_and_the_kiosk_gives_the_same_crossing(make_post):
    post = make_post()
    post.present(seed=SEED)                                  # nobody at the kiosk: auto mode takes it
    assert wait_until(lambda: post.station.state.recorded == 1, 60)
    [auto] = crossings(post)
    assert auto["decision"] == {"outcome": "recorded", "by": "kiosk", "reason_codes": [], "note": None}

    time.sleep(2.2)                                          # past the reader's repeat window
    kiosk_to_document(post)
    post.present(seed=SEED)
    s = only_session(post)
    assert wait_until(lambda: s.finished, 60), s.step
    officer = sign_in(post)
    view = officer.get(f"/booth/t/{s.code}")
    officer.post(f"/booth/t/{s.code}/decide", data={"csrf": token(view.text), "outcome": "admit",
                                                    "direction": "entry", "note": ""})
    kiosk = next(d for d in crossings(post) if d["transaction"] == s.code)

    assert kiosk["decision"]["outcome"] == "admit" and kiosk["decision"]["by"] == "officer1"
    assert auto["face"]["match"] is True and [v["check"] for v in auto["checks"]][:4] == [
        "document.validity", "document.expiry", "face.match", "finger.capture"]
    assert comparable(auto) == comparable(kiosk)
