"""The technician console's update page (/tech/update) on a running station: slots from RAUC (here: the
host has no RAUC service, so the page says so), bundles waiting on the data partition, install in the
background with its outcome shown, names checked, technicians only, CSRF as everywhere."""

from __future__ import annotations

from pathlib import Path

from tests.ui.conftest import TECH, make_post, wait_until  # noqa: F401  (make_post: the fixture)
from tests.ui.test_http import client, sign_in, token


def test_update_page_lists_bundles_installs_in_background_and_reports(make_post):  # noqa: F811
    post = make_post()
    tech = sign_in(post, "tech", TECH)
    assert 'href="/tech/update"' in tech.get("/tech").text
    page = tech.get("/tech/update")
    assert page.status_code == 200 and "No bundle on the device" in page.text
    assert "borderpost: rauc:" not in page.text and "rauc:" in page.text     # no RAUC service on this host
    incoming = Path(post.lane.cfg.store.path).parent / "update"
    incoming.mkdir()
    (incoming / "borderpost-amd64-1.2.raucb").write_bytes(b"not really a bundle")
    page = tech.get("/tech/update")
    assert "borderpost-amd64-1.2.raucb" in page.text
    r = tech.post("/tech/update/install", data={"csrf": token(page.text), "bundle": "borderpost-amd64-1.2.raucb"})
    assert r.status_code == 200 and "Last install" in r.text
    assert wait_until(lambda: 'class="warning" dir="ltr">rauc:' in tech.get("/tech/update").text, 30)
    for bad in ("../../../etc/passwd", "x.raucb", "a b.raucb"):
        page = tech.get("/tech/update")
        assert tech.post("/tech/update/install", data={"csrf": token(page.text), "bundle": bad}).status_code == 404
    page = tech.get("/tech/update?lang=fr")
    assert "Mise à jour du système" in page.text
    r = tech.post("/tech/update/rollback", data={"csrf": token(page.text)})
    assert r.status_code == 200
    assert tech.post("/tech/update/rollback", data={"csrf": "forged"}).status_code == 403


def test_only_a_signed_in_technician_reaches_it(make_post):  # noqa: F811
    post = make_post()
    anon = client(post)
    assert anon.get("/tech/update", follow_redirects=False).status_code in (303, 401, 403)
    officer = sign_in(post)
    assert officer.get("/tech/update").status_code in (401, 403) or "signin" in officer.get("/tech/update").url.path
