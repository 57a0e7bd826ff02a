"""Dashboard accounts and sessions: argon2id password hashes, random session tokens kept only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import time

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from central import db

SESSION_S = 8 * 3600
ROLE = "analyst"   # the only role: reads statistics, fleet and quarantine; changes nothing
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password of anyone")


def add_user(engine: Engine, name: str, password: str, actor: str) -> None:
    ins = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(db.users)
    values = {"name": name, "password_hash": _hasher.hash(password), "role": ROLE, "created_at": time.time()}
    with engine.begin() as conn:
        conn.execute(ins.values(**values).on_conflict_do_update(index_elements=["name"], set_=values))
        db.add_audit(conn, actor, "user add", name, f"role {ROLE}")


def check_password(engine: Engine, name: str, password: str) -> bool:
    with engine.connect() as conn:
        stored = conn.execute(sa.select(db.users.c.password_hash).where(db.users.c.name == name)).scalar()
    try:
        return bool(_hasher.verify(stored or _DUMMY, password)) and stored is not None  # same time either way
    except (VerificationError, InvalidHashError):
        return False


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session(engine: Engine, name: str) -> str:
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(db.web_sessions.delete().where(db.web_sessions.c.expires_at < time.time()))
        conn.execute(db.web_sessions.insert().values(token_hash=_h(token), user=name,
                                                     expires_at=time.time() + SESSION_S))
        db.add_audit(conn, name, "sign in", "dashboard")
    return token


def session_user(engine: Engine, token: str | None) -> str | None:
    if not token:
        return None
    with engine.connect() as conn:
        return conn.execute(sa.select(db.web_sessions.c.user).where(
            db.web_sessions.c.token_hash == _h(token), db.web_sessions.c.expires_at > time.time())).scalar()


def end_session(engine: Engine, token: str | None) -> None:
    if token:
        with engine.begin() as conn:
            conn.execute(db.web_sessions.delete().where(db.web_sessions.c.token_hash == _h(token)))
