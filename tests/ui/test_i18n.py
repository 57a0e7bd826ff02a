"""Catalogues: complete in ar/en/fr (every feedback and reason key), bidi-safe substitution."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.biometrics.face import FEEDBACK_KEYS as FACE_KEYS
from edge.biometrics.finger import FEEDBACK_KEYS as FINGER_KEYS
from edge.lane.queue import REFUSAL_CODES
from edge.lane.session import Step
from kiosk_ui import i18n

TEMPLATES = Path(i18n.__file__).with_name("templates")
REASONS = {"document.expired", "document.invalid", "document.unreadable", "face.no_match", "face.low_quality",
           "chip.unreadable", "chip.device_unavailable", "check.error",
           "face.no_capture", "face.not_compared", "finger.low_quality", "document.device_unavailable",
           "face.device_unavailable", "finger.device_unavailable", "traveller.asked_for_help",
           "traveller.cancelled", "page.other_document", *(f"timeout.{s.value}" for s in Step if s is not Step.RESULT)}


def test_every_catalogue_has_every_key_including_device_feedback():
    required = set(FACE_KEYS) | set(FINGER_KEYS) | {"document.try_again"}
    required |= {f"reason.{r}" for r in REASONS} | {f"refuse.{c}" for c in REFUSAL_CODES}
    assert i18n.check_complete(required) == {}


def test_every_key_used_by_a_template_exists():
    used = set()
    for path in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", path.read_text()))
    used = {k for k in used if not k.endswith(".")}   # "reason." + code: prefixes of dynamic keys
    assert len(used) > 30, "no template keys found: the pattern is wrong"
    assert sorted(used - set(i18n.catalogue("en"))) == []


def test_translations_differ_from_english_and_keep_placeholders():
    en = i18n.catalogue("en")
    for lang in ("ar", "fr"):
        cat = i18n.catalogue(lang)
        for key, text in cat.items():
            assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", en[key])), (lang, key)
        same = [k for k in cat if cat[k] == en[k] and not k.startswith(("lang.", "booth.field.format"))]
        assert len(same) <= 6, (lang, same)



def test_arabic_is_rtl_and_values_are_isolated():
    assert i18n.direction("ar") == "rtl" and i18n.direction("fr") == "ltr"
    text = i18n.translate("ar", "common.step_of", n=2, total=4)
    assert "\u20682\u2069" in text and "\u20684\u2069" in text
    finger = i18n.translate("ar", "finger.instruction", finger=i18n.translate("ar", "finger.right_index"))
    assert "\u2068سبابة اليد اليمنى\u2069" in finger


def test_unknown_key_or_language_never_crashes():
    assert i18n.translate("ar", "no.such.key") == "no.such.key"
    assert i18n.translate("xx", "common.cancel") == "Cancel"
    assert i18n.normalise("de") == "en" and i18n.normalise("ar") == "ar"
    with pytest.raises(i18n.CatalogueError):
        i18n.catalogue("de")


@given(st.text(max_size=40))
def test_substituted_values_are_text_never_format_directives(value):
    out = i18n.translate("fr", "booth.decided", code=value)
    assert value in out

