"""Two opinions and the check digits (issue 13 item 2): what neither settles is uncertain, never a clean pass.

`combine` is pure: these tests give it the recogniser's probabilities and tesseract's choices directly.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.documents.checkdigit import MRZ_ALPHABET, char_value
from edge.documents.layout import LAYOUTS
from edge.documents.opinions import combine
from edge.documents.synth import make_mrz

TODAY = dt.date(2026, 11, 29)
CLASSES = "".join(sorted(MRZ_ALPHABET))


def _probs(text: str, doubts: dict[int, tuple[str, float]] | None = None, sure: float = 0.995) -> np.ndarray:
    """A confident recogniser reading `text`; at `doubts` positions (char read, its p) the printed char is runner-up."""
    p = np.full((len(text), len(CLASSES)), (1 - sure) / (len(CLASSES) - 1), np.float32)
    for i, c in enumerate(text):
        p[i, CLASSES.index(c)] = sure
    for i, (read, prob) in (doubts or {}).items():
        p[i] = (1 - prob - (1 - prob) * 0.9) / (len(CLASSES) - 2)
        p[i, CLASSES.index(read)] = prob
        p[i, CLASSES.index(text[i])] = (1 - prob) * 0.9
    return p


def _tess(text: str) -> list[list[tuple[str, float]]]:
    return [[(c, 90.0)] for c in text]


def _doc(fmt: str = "TD3", seed: int = 1, **fields) -> str:
    return "".join(make_mrz(fmt, rng=random.Random(seed), **fields))


def test_agreeing_confident_opinions_are_a_clean_valid_read() -> None:
    text = _doc()
    r = combine(LAYOUTS["TD3"], _probs(text), CLASSES, _tess(text), TODAY)
    assert r.valid and not r.uncertain_fields and "".join(r.lines) == text


def test_w_read_as_h_twice_cancels_in_the_check_digit_and_is_flagged() -> None:
    text = _doc(document_number="W12W45678")
    lay = LAYOUTS["TD3"]
    a = lay.fields["document_number"][0]
    misread = text[:a] + "H12H" + text[a + 4:]
    assert misread != text
    # tesseract reads H twice (and that still verifies: 5·7 + 5·7 ≡ 0 mod 10); the recogniser reads W
    r = combine(lay, _probs(text), CLASSES, _tess(misread), TODAY)
    assert not r.valid
    assert "document_number" in r.uncertain_fields
    assert "H12H45678" in r.uncertain_fields["document_number"]
    # the recogniser itself reads H at both, W a close runner-up; tesseract agrees with it: still flagged
    r = combine(lay, _probs(misread, {a: ("H", 0.55), a + 3: ("H", 0.55)}) if False else
                _probs(text, {a: ("H", 0.55), a + 3: ("H", 0.55)}), CLASSES, _tess(misread), TODAY)
    assert not r.valid and "document_number" in r.uncertain_fields


def test_m_read_as_h_in_a_name_is_uncertain_with_the_alternative() -> None:
    text = _doc(surname="MUSTERMANN", given_names="ERIKA")
    lay = LAYOUTS["TD3"]
    p = text.index("MUSTERMANN")
    misread = text[:p] + "H" + text[p + 1:]
    # tesseract says H, the recogniser says M confidently: the two opinions disagree on a field with no check
    r = combine(lay, _probs(text), CLASSES, _tess(misread), TODAY)
    assert not r.valid
    assert "HUSTERMANN<<ERIKA" in r.uncertain_fields["name"]
    # tesseract agrees, but the recogniser's runner-up is close
    r = combine(lay, _probs(text, {p + 6: ("H", 0.6)}), CLASSES, _tess(text[:p + 6] + "H" + text[p + 7:]), TODAY)
    assert not r.valid and "name" in r.uncertain_fields
    assert any(v.startswith("MUSTERHANN") or v.startswith("MUSTERMANN") for v in r.uncertain_fields["name"])


def test_a_checked_field_the_check_digit_repairs_is_corrected_and_reported() -> None:
    text = _doc(document_number="AB5C12345")
    lay = LAYOUTS["TD3"]
    a = lay.fields["document_number"][0]
    # the recogniser's first choice at one position is S (wrong); 5 is a close second; tesseract says 5
    r = combine(lay, _probs(text, {a + 2: ("S", 0.6)}), CLASSES, _tess(text), TODAY)
    assert "".join(r.lines) == text
    assert any("check digits chose 1" in c for c in r.corrections)


def test_without_a_second_opinion_a_confident_read_passes_and_a_doubtful_one_does_not() -> None:
    text = _doc("TD1", seed=4)
    lay = LAYOUTS["TD1"]
    assert combine(lay, _probs(text), CLASSES, None, TODAY).valid
    name_pos = lay.fields["name"][0]
    r = combine(lay, _probs(text, {name_pos: ("Q" if text[name_pos] != "Q" else "O", 0.5)}), CLASSES, None, TODAY)
    assert not r.valid and "name" in r.uncertain_fields


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(["TD1", "TD2", "TD3", "MRVA", "MRVB"]), st.data())
def test_two_cancelling_substitutions_never_give_a_clean_read(seed: int, fmt: str, data: st.DataObject) -> None:
    """Any two same-shift substitutions in a checked field that keep its check digit, read by either opinion."""
    lay = LAYOUTS[fmt]
    text = _doc(fmt, seed)
    a, b = lay.fields["document_number"]
    i, j = data.draw(st.lists(st.integers(a, b - 1), min_size=2, max_size=2, unique=True))
    old_i, old_j = text[i], text[j]
    new_i = data.draw(st.sampled_from([c for c in CLASSES if c != old_i and c != "<"]))
    shift = (char_value(new_i) - char_value(old_i)) % 10
    wi, wj = (7, 3, 1)[(i - a) % 3], (7, 3, 1)[(j - a) % 3]
    fits = [c for c in CLASSES if c not in (old_j, "<") and (wi * shift + wj * ((char_value(c) - char_value(old_j))
                                                                             % 10)) % 10 == 0]
    if not fits:
        return
    new_j = data.draw(st.sampled_from(fits))
    misread = list(text)
    misread[i], misread[j] = new_i, new_j
    misread = "".join(misread)
    which = data.draw(st.sampled_from(["tesseract", "recogniser_close"]))
    if which == "tesseract":
        r = combine(lay, _probs(text), CLASSES, _tess(misread), TODAY)
    else:
        r = combine(lay, _probs(text, {i: (new_i, 0.55), j: (new_j, 0.55)}), CLASSES, _tess(text), TODAY)
    if r.valid:
        assert "".join(r.lines) == text, "a clean read with a wrong document number"


def test_tesseracts_known_misreading_of_a_sure_w_is_no_dissent() -> None:
    """Tesseract's legacy engine reads OCR-B W as H under blur: with the recogniser sure of W (p >= 0.999, H
    below 0.1%) that is not a disagreement; with the recogniser less sure, or another letter read, it is."""
    text = _doc(surname="OKONKWO", given_names="ADA")
    lay = LAYOUTS["TD3"]
    p = text.index("OKONKWO") + 5
    as_tess = text[:p] + "H" + text[p + 1:]
    r = combine(lay, _probs(text, sure=0.9995), CLASSES, _tess(as_tess), TODAY)
    assert r.valid and not r.uncertain_fields and "".join(r.lines) == text
    r = combine(lay, _probs(text, sure=0.995), CLASSES, _tess(as_tess), TODAY)
    assert not r.valid and "OKONKHO<<ADA" in r.uncertain_fields["name"]
    r = combine(lay, _probs(text, sure=0.9995), CLASSES, _tess(text[:p] + "V" + text[p + 1:]), TODAY)
    assert not r.valid and "OKONKVO<<ADA" in r.uncertain_fields["name"]
    # the other way round (the recogniser sure of H, tesseract reads M: the half-blend case) stays a dissent
    hm = _doc(surname="HARTIN", given_names="ANNA")
    q = hm.index("HARTIN")
    r = combine(lay, _probs(hm, sure=0.9995), CLASSES, _tess(hm[:q] + "M" + hm[q + 1:]), TODAY)
    assert not r.valid and "MARTIN<<ANNA" in r.uncertain_fields["name"]


def test_a_near_tie_in_tesseracts_choices_is_no_alternative_reading() -> None:
    """Tesseract ranks O and 0 within a point of each other; its first choices at two same-weight positions
    of a document number (0 and O swapped) happen to verify. It stands behind the recogniser's reading too,
    so that is no cancelling pair: clean. Where it does not list the recogniser's character, it is."""
    lay = LAYOUTS["TD2"]
    text = _doc("TD2", seed=3, document_number="M0TWX6AO7")
    a = lay.fields["document_number"][0]
    tess = _tess(text)
    tess[a + 1] = [("O", 94.8), ("0", 93.9)]
    tess[a + 7] = [("0", 91.2), ("O", 90.4)]
    r = combine(lay, _probs(text), CLASSES, tess, TODAY)
    assert r.valid and not r.uncertain_fields and "".join(r.lines) == text
    tess[a + 1] = [("O", 94.8)]
    tess[a + 7] = [("0", 91.2)]
    r = combine(lay, _probs(text), CLASSES, tess, TODAY)
    assert not r.valid and "MOTWX6A07" in r.uncertain_fields["document_number"]
