"""Alert-list hits at the booth: the decision waits for the officer's finding on each hit; all of it audited."""

from __future__ import annotations

import pytest

from edge.config import parse
from edge.devices import DeviceSet
from edge.events.model import DocumentSummary
from edge.lane.checks import SEE_OFFICER, Context, Stage, Verdict, verdict
from edge.lane.hits import booth_hits, hit_ids, open_hits, resolve_hit
from edge.lane.lane import Lane
from edge.lane.queue import DecisionError
from edge.lane.session import Rules, Session
from edge.recorder import Recorder
from edge.store import Store


class TwoHits:
    id = "alerts.lists"
    stage = Stage.DOCUMENT

    def run(self, ctx: Context) -> Verdict:
        return verdict(self, "fail", ["alerts.hit"], SEE_OFFICER, hits=2, hit_ids="E1,E2", list_version=7)


@pytest.fixture
def lane(tmp_path):
    cfg = parse(f'[identity]\npost = "p"\ndevice = "d"\nsigning_key = "{tmp_path}/k.pem"\n'
                f'[store]\npath = "{tmp_path}/store.db"\nmin_free_mb = 0\n', "<hits test>")
    store = Store.open(cfg.store.path, min_free_mb=0)
    lane = Lane(cfg, store, Recorder(cfg, store), DeviceSet())
    yield lane
    lane.stop()
    store.close()


def queued_with_hits(lane: Lane) -> str:
    s = Session("ACDE-FGHJ", Rules(checks=(TwoHits(),)), now=0.0)
    s.choose_language("en", 0.0)
    s.document_read(DocumentSummary(format="TD3", valid=True, expired=False, document_number="L01X00T47"), 1.0)
    lane.enqueue(s)
    return s.code


def test_the_decision_waits_until_every_hit_has_a_finding(lane):
    code = queued_with_hits(lane)
    q = lane.get(code)
    assert hit_ids(q) == ["E1", "E2"] and open_hits(q) == ["E1", "E2"]
    shown = booth_hits(lane, q, "officer1")
    assert [h["id"] for h in shown] == ["E1", "E2"] and all(h["resolution"] is None for h in shown)
    with pytest.raises(DecisionError, match=r"booth\.resolve_hits"):
        lane.decide(code, "officer1", "admit", reasons=[], note="", direction="entry")
    assert not resolve_hit(lane, code, "officer1", "E9", True)            # not a hit of this traveller
    assert resolve_hit(lane, code, "officer1", "E1", False)
    assert open_hits(lane.get(code)) == ["E2"]
    assert resolve_hit(lane, code, "officer1", "E2", True)
    event_id = lane.decide(code, "officer1", "refer", reasons=[], note="", direction="entry")
    assert event_id and lane.get(code) is None
    actions = [(e["action"], e["subject"]) for e in lane.store.audit_entries()]
    assert ("alerts.hits_seen", code) in actions and actions.count(("alerts.hit_resolved", code)) == 2
    assert lane.store.verify_audit_chain()
