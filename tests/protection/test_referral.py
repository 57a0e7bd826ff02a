"""Protection screening and sealed referrals."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from edge.protection import (
    DEFAULT_QUESTIONS,
    Question,
    Referral,
    ScreeningError,
    indicators,
    open_referral,
    seal_referral,
)

IDS = [q.id for q in DEFAULT_QUESTIONS]


def test_yes_answers_raise_their_indicators_in_checklist_order():
    answers = dict.fromkeys(IDS, False) | {"asylum": True, "child_alone": True}
    assert indicators(DEFAULT_QUESTIONS, answers) == ["child.unaccompanied_or_separated", "asylum.request"]


def test_every_question_must_be_answered_and_none_invented():
    with pytest.raises(ScreeningError, match="unanswered: trafficking_signs"):
        indicators(DEFAULT_QUESTIONS, {k: False for k in IDS if k != "trafficking_signs"})
    with pytest.raises(ScreeningError, match="unknown questions: nope"):
        indicators(DEFAULT_QUESTIONS, dict.fromkeys(IDS, False) | {"nope": True})


def test_a_question_needs_all_three_languages():
    with pytest.raises(ValueError, match="no text in ar"):
        Question(id="q1", indicator="x.y", text={"en": "?", "fr": "?"})


@given(st.text(max_size=300))
def test_sealed_referral_opens_only_for_the_recipient_and_its_crossing(note: str):
    key = X25519PrivateKey.generate()
    ref = Referral(partner="UNHCR", indicators=["asylum.request"], note=note, officer="officer1",
                   declared_identity={"surname": "SAMPLE"})
    sealed = seal_referral(ref, key.public_key(), "0190-crossing")
    assert "SAMPLE" not in sealed.model_dump_json() and "asylum" not in sealed.model_dump_json()
    assert open_referral(sealed, key) == ref
    with pytest.raises(InvalidTag):
        open_referral(sealed.model_copy(update={"crossing_id": "another"}), key)
    with pytest.raises(InvalidTag):
        open_referral(sealed, X25519PrivateKey.generate())
