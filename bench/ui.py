"""UI benchmarks: document read -> face step on screen, officer request latency under load, kiosk page weight.

Run from the repository root: `python bench/ui.py [--rounds 10] [--officers 20] [--seconds 10]`.
Needs mosquitto and /usr/bin/chromium (as the browser tests do). Peers, measured in the same run:
- document -> face step: the server-side lower bound (session at the face step, no browser) next to the
  browser showing it; and a page that polls once a second (the no-live-updates design) modelled as
  the lower bound plus the expected half-second poll wait plus a page load.
- officer requests: the queue and transaction pages next to a static CSS file served by the same
  server (the framework's floor).
- page weight: the kiosk's own JS+CSS next to htmx 2's minified size (a common alternative), stated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from tests.support.broker import Mosquitto
from tests.ui.conftest import OFFICER, post_config, start_post, wait_until

HTMX_MIN_BYTES = 50_917   # htmx.org 2.0.x dist/htmx.min.js, for comparison only
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def document_to_face(post, rounds: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    browser_ms, server_ms, load_ms = [], [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        cam = next(d for d in post.hub.devices.devices.values() if d.backend == "camera_sim").simulation
        for _ in range(rounds):
            page = b.new_page()
            page.goto(f"{post.url}/kiosk?lang=en")
            page.click('button[name="arg"][value="en"]')
            page.wait_for_selector('body[data-step="document"]')
            page.wait_for_timeout(300)          # the live-update stream is connected
            cam.no_face()                       # stay on the face step while we look at it
            session = next(iter(post.hub.kiosks.values()))
            t0 = time.perf_counter()
            post.present()
            wait_until(lambda s=session: s.step.value != "document", 10, 0.001)
            server_ms.append((time.perf_counter() - t0) * 1000)
            assert session.step.value == "face", (session.step, session.reasons)
            page.wait_for_selector('body[data-step="face"]', timeout=10_000)
            browser_ms.append((time.perf_counter() - t0) * 1000)
            t1 = time.perf_counter()
            page.reload()
            page.wait_for_selector('body[data-step="face"]')
            load_ms.append((time.perf_counter() - t1) * 1000)
            form = page.locator('footer form button[value="cancel"]')
            form.click()
            page.close()
            post.hub.kiosks.clear()
            cam.present()
        b.close()
    poll_model = statistics.median(server_ms) + 500 + statistics.median(load_ms)
    return {"server_p50_ms": statistics.median(server_ms), "browser_p50_ms": statistics.median(browser_ms),
            "browser_max_ms": max(browser_ms), "page_load_p50_ms": statistics.median(load_ms),
            "peer_1s_polling_expected_ms": poll_model}


def officer_load(post, officers: int, seconds: float) -> dict[str, dict[str, float]]:
    code = post.hub.queue()[0].code
    clients = []
    for _ in range(officers):
        c = httpx.Client(base_url=post.url, follow_redirects=True, timeout=30)
        page = c.get("/booth/signin").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        c.post("/booth/signin", data={"csrf": csrf, "user": OFFICER[0], "password": OFFICER[1]})
        clients.append(c)
    times: dict[str, list[float]] = {"queue": [], "transaction": [], "static_css_peer": []}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def work(c: httpx.Client) -> None:
        paths = (("queue", "/booth"), ("transaction", f"/booth/t/{code}"), ("static_css_peer", "/static/app.css"))
        while time.monotonic() < end:
            for name, path in paths:
                t0 = time.perf_counter()
                r = c.get(path)
                dt = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, (path, r.status_code)
                with lock:
                    times[name].append(dt)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    return {k: {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)} for k, v in times.items()}


def page_weight(post) -> dict[str, int]:
    from playwright.sync_api import sync_playwright

    sizes = {"js": 0, "css": 0}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = b.new_page()
        seen = []
        page.on("response", lambda r: seen.append(r))
        page.goto(f"{post.url}/kiosk?lang=ar")
        page.wait_for_load_state("networkidle")
        for r in seen:
            kind = r.request.resource_type
            if kind == "script":
                sizes["js"] += len(r.body())
            elif kind == "stylesheet":
                sizes["css"] += len(r.body())
        b.close()
    sizes["peer_htmx_min_js"] = HTMX_MIN_BYTES
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--officers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    broker = Mosquitto(tmp / "broker").start()
    post = start_post(post_config(tmp, broker.url))
    try:
        d2f = document_to_face(post, args.rounds)
        print("document read -> face step shown (ms): "
              + ", ".join(f"{k}={v:.0f}" for k, v in d2f.items()))
        post.present(expired=True)                  # a waiting transaction for the officers to open
        from tests.ui.test_http import kiosk_to_document

        kiosk_to_document(post)
        post.present(expired=True)
        wait_until(lambda: post.hub.queue(), 10)
        load = officer_load(post, args.officers, args.seconds)
        for name, row in load.items():
            print(f"{args.officers} officers, {name}: n={row['n']} p50={row['p50_ms']:.1f} ms "
                  f"p99={row['p99_ms']:.1f} ms")
        w = page_weight(post)
        print(f"kiosk page loads JS {w['js']} B + CSS {w['css']} B "
              f"(peer: htmx.min.js alone is {w['peer_htmx_min_js']} B)")
    finally:
        post.stop()
        broker.stop()


if __name__ == "__main__":
    main()
