"""Spoken prompts with the real espeak-ng: a WAV of plausible length in each language, cached, safe text."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from edge.speech import PromptCache, SpeechUnavailable, Voice, synthesize


def seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as w:
        return w.getnframes() / w.getframerate()


@pytest.mark.parametrize("lang,text", [("ar", "ضع جواز سفرك على القارئ"), ("en", "Place your passport on the reader"),
                                       ("fr", "Posez votre passeport sur le lecteur")])
def test_each_language_speaks_for_a_plausible_time(lang: str, text: str):
    assert 1.0 < seconds(synthesize(text, Voice(lang))) < 8.0


def test_slower_rate_is_longer_and_options_in_text_are_only_words():
    text = "Please look at the camera"
    assert seconds(synthesize(text, Voice("en", 100))) > seconds(synthesize(text, Voice("en", 220)))
    assert seconds(synthesize("--version -w /tmp/x.wav", Voice("en"))) > 0.5   # spoken, not obeyed


def test_cache_renders_once(tmp_path: Path):
    cache = PromptCache(tmp_path)
    first = cache.path("Step one", Voice("fr"))
    stamp = first.stat().st_mtime_ns
    assert cache.path("Step one", Voice("fr")) == first and first.stat().st_mtime_ns == stamp
    assert cache.warm({"en": {"a": "Hello", "b": "Goodbye"}, "xx": {"c": "ignored"}}) == 2
    assert len(list(tmp_path.glob("*.wav"))) == 3


def test_unknown_language_is_a_clear_error():
    with pytest.raises(SpeechUnavailable, match="no voice for language 'de'"):
        synthesize("Hallo", Voice("de"))
