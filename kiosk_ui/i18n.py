"""Message catalogues (ar, en, fr): one key set, checked complete at start, with bidi-safe substitution.

Catalogues are flat JSON files (`locales/<lang>.json`) so translators edit one file per language and a
test proves every key (including every face and fingerprint feedback key) exists in all of them.
Substituted values (codes, numbers, document numbers, translated finger names) are wrapped in Unicode
first-strong isolates, so a left-to-right code inside an Arabic sentence keeps its order and an Arabic
phrase inside it stays right-to-left.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES: tuple[str, ...] = ("ar", "en", "fr")
RTL = frozenset({"ar"})
LOCALES = Path(__file__).with_name("locales")
FSI, PDI = "\u2068", "\u2069"   # first-strong isolate ... pop directional isolate


class CatalogueError(Exception):
    """A catalogue is missing, unreadable or lacks keys another language has."""


@cache
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise CatalogueError(f"unsupported language {lang!r}")
    path = LOCALES / f"{lang}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CatalogueError(f"{path}: expected an object of strings")
    return data


def check_complete(required: set[str] | frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Keys missing per language (against the union of all catalogues plus `required`); {} when complete."""
    cats = {lang: catalogue(lang) for lang in LANGUAGES}
    every = set(required).union(*(set(c) for c in cats.values()))
    return {lang: sorted(every - set(c)) for lang, c in cats.items() if every - set(c)}


def normalise(lang: str | None, default: str = "en") -> str:
    return lang if lang in LANGUAGES else default


def direction(lang: str) -> str:
    return "rtl" if lang in RTL else "ltr"


def isolate(value: object) -> str:
    return f"{FSI}{value}{PDI}"


def translate(lang: str, key: str, **values: object) -> str:
    """The message for `key`; an unknown key shows the key itself (visible in tests, never a crash)."""
    text = catalogue(normalise(lang)).get(key)
    if text is None:
        text = catalogue("en").get(key, key)
    if values:
        text = text.format_map({k: isolate(v) for k, v in values.items()})
    return text


class Translator:
    """Bound to one language; what templates call as `t("key", n=1)`."""

    def __init__(self, lang: str) -> None:
        self.lang = normalise(lang)
        self.dir = direction(self.lang)

    def __call__(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)
