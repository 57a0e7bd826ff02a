"""The analysts' dashboard: sign in, then read statistics, the fleet, gaps and the quarantine. Nothing changes data.

Every page is server-rendered HTML with SVG charts: no script and no third-party host (strict CSP). Sessions
are HttpOnly, SameSite=Strict cookies; the only form that posts is the sign-in (and sign-out).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape
from sqlalchemy.engine import Engine

from central import charts, db, stats, web_auth

COOKIE = "central_session"
CSS = """body{font-family:sans-serif;margin:0;color:#1b1b1b}header{background:#123;color:#fff;padding:.6em 1em;
display:flex;gap:1.5em;align-items:center}header a{color:#fff}main{padding:1em}.grid{display:flex;flex-wrap:wrap;
gap:1.5em}.card{border:1px solid #ccd;border-radius:6px;padding:.6em}.big{font-size:1.8em;font-weight:bold}
table{border-collapse:collapse}td,th{border-bottom:1px solid #dde;padding:.25em .6em;text-align:left}
svg .b{fill:#2a6db0}svg .t{font-weight:bold;font-size:13px}svg .l,svg .v{font-size:11px}.bad{color:#a00}
form.inline{display:inline}"""

PAGES = {
    "base.html": """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }} · borderpost central
</title><link rel="stylesheet" href="/static/central.css"></head><body>
<header><strong>borderpost central</strong>{% if user %}<a href="/">Statistics</a><a href="/fleet">Fleet</a>
<a href="/gaps">Gaps</a><a href="/quarantine">Quarantine</a><span>{{ user }} (analyst, read-only)</span>
<form class="inline" method="post" action="/logout"><button>Sign out</button></form>{% endif %}</header>
<main><h1>{{ title }}</h1>{% block body %}{% endblock %}</main></body></html>""",
    "login.html": """{% extends "base.html" %}{% block body %}{% if error %}<p class="bad" role="alert">{{ error }}</p>
{% endif %}<form method="post" action="/login"><p><label>User <input name="username" autocomplete="username"
required></label></p><p><label>Password <input name="password" type="password" autocomplete="current-password"
required></label></p><p><button type="submit">Sign in</button></p></form>{% endblock %}""",
    "stats.html": """{% extends "base.html" %}{% block body %}
<form method="get" action="/"><label>From <input type="date" name="from" value="{{ frm }}"></label>
<label>To <input type="date" name="to" value="{{ to }}"></label> <button>Show</button></form>
<div class="grid"><div class="card"><div class="big" id="total">{{ total }}</div>crossings</div>
<div class="card"><div class="big">{{ s.events }}</div>events stored</div>
<div class="card"><div class="big">{{ s.quarantined }}</div>quarantined</div>
<div class="card"><div class="big">{{ s.devices }}</div>devices</div>
<div class="card"><div class="big">{{ s.gaps }}</div>open gaps</div>
<div class="card"><div class="big">{{ pairs.paired_with_exit }}/{{ pairs.entries }}</div>entries with an exit;
{{ pairs.overstays }} overstays (&gt; {{ pairs.max_stay_days }} days)</div></div>
<div class="grid">{% for c in charts %}<div class="card">{{ c }}</div>{% endfor %}</div>{% endblock %}""",
    "fleet.html": """{% extends "base.html" %}{% block body %}<table id="fleet"><tr><th>Post</th><th>Device</th>
<th>Registry</th><th>Status</th><th>Last seen</th><th>Version</th><th>Queue</th><th>Oldest pending</th>
<th>Alert list</th><th>Health</th><th>Gaps</th></tr>{% for r in rows %}<tr><td>{{ r.post }}</td><td>{{ r.device }}
</td><td>{{ r.state }}</td><td>{{ r.status }}</td><td>{{ '—' if r.last_seen_s_ago is none else
'%d s ago' % r.last_seen_s_ago }}</td><td>{{ r.version or '—' }}</td><td>{{ r.queue_depth if r.queue_depth is not
none else '—' }}</td><td>{{ r.oldest_pending_s if r.oldest_pending_s is not none else '—' }}</td>
<td>{{ r.alert_list_version or '—' }}</td><td>{{ r.health }}</td><td>{{ r.gaps }}{% if r.missing %} ({{ r.missing }}
missing){% endif %}</td></tr>{% endfor %}</table>{% endblock %}""",
    "gaps.html": """{% extends "base.html" %}{% block body %}{% if not rows %}<p id="nogaps">No open gaps.</p>{% else %}
<table id="gaps"><tr><th>Post</th><th>Device</th><th>Missing sequence</th><th>Open since</th><th>Resends</th></tr>
{% for r in rows %}<tr><td>{{ r.post }}</td><td>{{ r.device }}</td><td>{{ r.from_seq }}–{{ r.to_seq }}</td>
<td>{{ r.opened }}</td><td>{{ r.resends }}</td></tr>{% endfor %}</table>{% endif %}{% endblock %}""",
    "quarantine.html": """{% extends "base.html" %}{% block body %}<div class="card">{{ chart }}</div>
<table id="quarantine"><tr><th>When</th><th>Reason</th><th>Topic</th><th>Event id</th><th>Detail</th></tr>
{% for r in rows %}<tr><td>{{ r.when }}</td><td>{{ r.reason_code }}</td><td>{{ r.topic }}</td><td>{{ r.event_id or
'' }}</td><td>{{ r.reason }}</td></tr>{% endfor %}</table>{% endblock %}""",
}

_env = Environment(loader=DictLoader(PAGES), autoescape=select_autoescape(default=True, default_for_string=True))


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def create_app(engine: Engine, *, secure_cookies: bool = False) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                                       "form-action 'self'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def page(name: str, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(_env.get_template(name).render(**ctx))

    def user_of(request: Request) -> str | None:
        return web_auth.session_user(engine, request.cookies.get(COOKIE))

    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.get("/static/central.css")
    def css() -> Response:
        return Response(CSS, media_type="text/css")

    @app.get("/login")
    def login_form(request: Request) -> HTMLResponse:
        return page("login.html", title="Sign in", user=None, error=None)

    @app.post("/login", response_model=None)
    def login(username: str = Form(...), password: str = Form(...)) -> Response:
        if not web_auth.check_password(engine, username[:100], password[:1000]):
            with engine.begin() as conn:
                db.add_audit(conn, username[:100], "sign in refused", "dashboard")
            resp = page("login.html", title="Sign in", user=None, error="Wrong user or password.")
            resp.status_code = 401
            return resp
        token = web_auth.new_session(engine, username)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies,
                        max_age=web_auth.SESSION_S)
        return resp

    @app.post("/logout")
    def logout(request: Request) -> RedirectResponse:
        web_auth.end_session(engine, request.cookies.get(COOKIE))
        resp = to_login()
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/", response_model=None)
    def overview(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return to_login()
        q = request.query_params
        today = dt.datetime.now(dt.UTC).date()
        try:
            end = dt.date.fromisoformat(q.get("to") or today.isoformat())
            start = dt.date.fromisoformat(q.get("from") or (end - dt.timedelta(days=30)).isoformat())
        except ValueError:
            return HTMLResponse("from/to must be dates YYYY-MM-DD", status_code=400)

        def by(dim: str) -> list[tuple[str, int]]:
            return [(str(r[dim]), r["count"]) for r in stats.counts(engine, (dim,), start, end)]

        daily = by("day")
        charts_ = [charts.columns("Crossings per day", daily),
                   charts.bars("By post", by("post")), charts.bars("By direction", by("direction")),
                   charts.bars("By nationality", by("nationality")), charts.bars("By sex", by("sex")),
                   charts.bars("By age band", by("age_band")), charts.bars("Decisions", by("outcome")),
                   charts.bars("Decided by", by("decided_by")),
                   charts.bars("Refusal codes", list(stats.reason_codes(engine, ("refuse",), start, end).items())),
                   charts.bars("Hand-over reasons",
                               list(stats.reason_codes(engine, ("handover", "refer"), start, end).items())),
                   charts.bars("Alert hits by post", [(r["post"], r["count"])
                                                      for r in stats.alert_hits(engine, start, end)])]
        return page("stats.html", title="Statistics", user=user, frm=start.isoformat(), to=end.isoformat(),
                    total=sum(v for _, v in daily), s=stats.summary(engine), charts=charts_,
                    pairs=stats.entries_and_exits(engine))

    @app.get("/fleet", response_model=None)
    def fleet_page(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return to_login()
        return page("fleet.html", title="Fleet", user=user, rows=stats.fleet(engine))

    @app.get("/gaps", response_model=None)
    def gaps_page(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return to_login()
        g = db.gaps
        with engine.connect() as conn:
            rows = [{**r, "opened": _when(r["opened_at"])} for r in conn.execute(
                sa.select(g).order_by(g.c.post, g.c.device, g.c.from_seq)).mappings()]
        return page("gaps.html", title="Sequence gaps", user=user, rows=rows)

    @app.get("/quarantine", response_model=None)
    def quarantine_page(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return to_login()
        q = db.quarantine
        with engine.connect() as conn:
            rows = [{**r, "when": _when(r["received_at"])} for r in conn.execute(
                sa.select(q.c.received_at, q.c.reason_code, q.c.topic, q.c.event_id, q.c.reason)
                .order_by(q.c.id.desc()).limit(200)).mappings()]
        chart = charts.bars("Quarantined by reason", list(stats.summary(engine)["quarantined_by_reason"].items()))
        return page("quarantine.html", title="Quarantine", user=user, rows=rows, chart=chart)

    return app
