"""Spoken kiosk prompts: the delay to speech, cold (espeak-ng renders) and cached (a file read), per prompt.

    python bench/speech.py [--repeat 5] [--json]

Every kiosk screen's prompt in ar/en/fr (the texts `kiosk_ui.kiosk.spoken_text` speaks) is rendered once
into an empty cache (cold: what the first traveller on a fresh appliance would wait for without `warm`), then
fetched from the cache `--repeat` times (what a traveller waits for after the cache is warm). Printed per
language: median and worst cold synthesis, median cached fetch, and the audio's length (so the delay can be
compared with what is said). Goal: cached under 10 ms, cold under 500 ms per prompt on the Pi class.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.speech import PromptCache, Voice
from kiosk_ui import i18n
from kiosk_ui.kiosk import SPOKEN

RESULTS = ("result.complete.title", "result.complete.where", "result.handover.title", "result.handover.where",
           "result.document_expired", "result.document_unreadable", "result.face_not_matched",
           "result.finger_not_captured")


def prompts(lang: str) -> dict[str, str]:
    out = {step.value: " ".join(i18n.translate(lang, k) for k in keys) for step, keys in SPOKEN.items()}
    out |= {k: i18n.translate(lang, k) for k in RESULTS}
    return out


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as w:
        return w.getnframes() / w.getframerate()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = PromptCache(Path(tmp))
        for lang in ("ar", "en", "fr"):
            cold, warm, audio = [], [], []
            for text in prompts(lang).values():
                t0 = time.perf_counter()
                path = cache.path(text, Voice(lang))
                cold.append((time.perf_counter() - t0) * 1000)
                audio.append(seconds_of(path.read_bytes()))
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    cache.path(text, Voice(lang)).read_bytes()
                    warm.append((time.perf_counter() - t0) * 1000)
            report[lang] = {"prompts": len(cold), "cold_ms_median": round(statistics.median(cold), 1),
                            "cold_ms_max": round(max(cold), 1), "cached_ms_median": round(statistics.median(warm), 3),
                            "cached_ms_max": round(max(warm), 3), "audio_s_median": round(statistics.median(audio), 2)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'lang':4} {'prompts':>7} {'cold p50 ms':>11} {'cold max ms':>11} {'cached p50 ms':>13} "
              f"{'cached max ms':>13} {'audio p50 s':>11}")
        for lang, r in report.items():
            print(f"{lang:4} {r['prompts']:7d} {r['cold_ms_median']:11.1f} {r['cold_ms_max']:11.1f} "
                  f"{r['cached_ms_median']:13.3f} {r['cached_ms_max']:13.3f} {r['audio_s_median']:11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
