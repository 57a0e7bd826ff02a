"""The analysts' dashboard in Debian's Chromium (Playwright), and its HTTP rules: sign-in first, read-only, no
script, strict CSP. Screenshots go to artifacts/screenshots/central-*.png."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from central import registry
from central.store import Batch, EventStore
from central.verify import Accepted, check_event
from central.web import create_app
from central.web_auth import add_user
from tests.central.helpers import PREFIX, device, enrolment, event, lookup_of

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "analyst password 1"


def populate(engine) -> int:
    store = EventStore(engine)
    devs = [device(f"post-{p}", f"kiosk-{d}", seed=p * 10 + d) for p in (1, 2, 3) for d in (1, 2)]
    now = datetime.now(UTC)
    n = 0
    for d in devs:
        registry.enrol(engine, enrolment(d), "test")
        batch = Batch()
        for i in range(30):
            topic, payload = event(d, when=now - timedelta(days=i % 10, minutes=i))
            a = check_event(topic, payload, PREFIX, lookup_of(d))
            assert isinstance(a, Accepted)
            batch.accepted.append((a, payload.decode(), time.time()))
            n += 1
        store.write(batch)
        online = d.device == "kiosk-1"
        store.fleet_update(d.post, d.device, "status", {"state": "online" if online else "offline",
                                                        "version": "0.1.0"}, time.time())
        store.fleet_update(d.post, d.device, "telemetry", {
            "queue_depth": 0 if online else 12, "parked": 0, "delivered_total": 30,
            "oldest_pending_age_s": None if online else 420.0, "db_size_mb": 1.0, "disk_free_mb": 900.0,
            "storage_full": False, "devices": {"mrz": "ready"}}, time.time())
    add_user(engine, "ana", PASSWORD, "test")
    return n


@pytest.fixture
def server(engine):
    total = populate(engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    end = time.monotonic() + 15
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", total
    srv.should_exit = True
    t.join(10)


def test_http_rules(server):
    url, _ = server
    with httpx.Client(base_url=url, timeout=30) as c:   # argon2id sign-in on a loaded machine: seconds
        for path in ("/", "/fleet", "/gaps", "/quarantine"):
            r = c.get(path)
            assert (r.status_code, r.headers["location"]) == (303, "/login")
        bad = c.post("/login", data={"username": "ana", "password": "wrong"})
        assert bad.status_code == 401 and "Wrong user or password" in bad.text
        ok = c.post("/login", data={"username": "ana", "password": PASSWORD})
        assert ok.status_code == 303
        page = c.get("/")
        assert page.status_code == 200 and "<script" not in page.text and "<svg" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert c.post("/").status_code == 405                # read-only: nothing to post to
        assert c.get("/?from=yesterday").status_code == 400
        c.post("/logout")
        assert c.get("/").status_code == 303


def test_dashboard_walked_in_chromium(server):
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: apt-get install chromium (CI's .ci/run does)")
    from playwright.sync_api import sync_playwright

    url, total = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.goto(url + "/")
        assert page.url.endswith("/login")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", PASSWORD)
        page.screenshot(path=str(ARTIFACTS / "central-login.png"))
        page.click("button[type=submit]")
        page.wait_for_selector("#total")
        assert page.inner_text("#total") == str(total)
        assert page.locator("svg.chart").count() >= 10
        assert page.locator("svg[aria-label='By post'] rect").count() == 3
        page.screenshot(path=str(ARTIFACTS / "central-statistics.png"), full_page=True)
        page.click("text=Fleet")
        page.wait_for_selector("#fleet")
        assert page.locator("#fleet tr").count() == 1 + 6
        assert page.locator("#fleet td", has_text="degraded").count() == 3   # a backlog over 5 minutes
        assert page.locator("#fleet td", has_text="online").count() == 3
        page.screenshot(path=str(ARTIFACTS / "central-fleet.png"), full_page=True)
        page.click("text=Gaps")
        page.wait_for_selector("#nogaps")
        page.click("text=Quarantine")
        page.wait_for_selector("#quarantine")
        page.screenshot(path=str(ARTIFACTS / "central-quarantine.png"), full_page=True)
        page.click("text=Sign out")
        page.wait_for_url("**/login")
        browser.close()
