"""Spoken kiosk prompts, offline, with Debian's espeak-ng: Arabic, English and French.

Why espeak-ng: it is packaged by Debian for both architectures, speaks all three languages with no model
to download, and renders a prompt in tens of milliseconds on a Pi. Prompts are rendered once into a
cache (keyed by voice, rate and text), so the delay a traveller hears is a file read, not synthesis.
Text reaches espeak-ng on standard input, never as an argument, so nothing in it is read as an option.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

VOICES = {"ar": "ar", "en": "en-gb", "fr": "fr-fr"}
DEFAULT_RATE = 150          # words per minute: slower than espeak-ng's 175, for people new to kiosks
MAX_CHARS = 1000


class SpeechUnavailable(RuntimeError):
    """espeak-ng is not installed, or failed (the message says which)."""


@dataclass(frozen=True)
class Voice:
    language: str
    rate: int = DEFAULT_RATE

    @property
    def espeak_voice(self) -> str:
        try:
            return VOICES[self.language]
        except KeyError:
            raise SpeechUnavailable(f"no voice for language {self.language!r} (have {', '.join(VOICES)})") from None


def engine() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SpeechUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    return path


def synthesize(text: str, voice: Voice, timeout: float = 10.0) -> bytes:
    """A WAV file of `text` spoken in `voice`."""
    text = " ".join(text.split())[:MAX_CHARS]
    try:
        done = subprocess.run([engine(), "-v", voice.espeak_voice, "-s", str(voice.rate), "--stdout"],
                              input=text.encode(), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SpeechUnavailable(f"espeak-ng took over {timeout:.0f} s") from None
    if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
        raise SpeechUnavailable(f"espeak-ng failed ({done.returncode}): {done.stderr.decode(errors='replace')[:200]}")
    return fix_wav_sizes(done.stdout)


def fix_wav_sizes(wav: bytes) -> bytes:
    """espeak-ng streams to stdout with placeholder sizes in the RIFF header: write the real ones."""
    at = wav.find(b"data", 12)
    if at < 0 or len(wav) < at + 8:
        raise SpeechUnavailable("espeak-ng wrote no audio")
    out = bytearray(wav)
    out[4:8] = (len(wav) - 8).to_bytes(4, "little")
    out[at + 4:at + 8] = (len(wav) - at - 8).to_bytes(4, "little")
    return bytes(out)


class PromptCache:
    """Rendered prompts on disk: `path(text, voice)` renders on first use, later calls only look it up."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _key(self, text: str, voice: Voice) -> str:
        return hashlib.sha256(f"{voice.espeak_voice}|{voice.rate}|{text}".encode()).hexdigest()[:32]

    def path(self, text: str, voice: Voice) -> Path:
        target = self.directory / f"{self._key(text, voice)}.wav"
        if not target.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(synthesize(text, voice))
            os.replace(tmp, target)
        return target

    def warm(self, prompts: dict[str, dict[str, str]], rate: int = DEFAULT_RATE) -> int:
        """Render every language's prompts ({lang: {key: text}}) ahead of the first traveller; how many."""
        n = 0
        for lang, texts in prompts.items():
            if lang in VOICES:
                for text in texts.values():
                    self.path(text, Voice(lang, rate))
                    n += 1
        return n
