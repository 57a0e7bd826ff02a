"""Fuzz targets: every decoder of outside input, each as `target(data: bytes)`, with seeds of valid input.

A target returns normally for every input it handles as designed (an answer, or its documented refusal:
ConfigError, PacketError, ImageRejected, ...). Anything else escaping is a finding. Used by the CI-sized
hypothesis run (tests/fuzz/test_fuzz_targets.py) and by the long run (`make fuzz`, scripts/fuzz.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

TODAY = dt.date(2026, 11, 30)


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]] = field(default=lambda: [])


# ---------------------------------------------------------------- MRZ text
def _mrz_seeds() -> list[bytes]:
    from edge.documents.synth import make_mrz

    rng = random.Random(3)
    return [("\n".join(make_mrz(fmt, rng=rng))).encode() for fmt in ("TD1", "TD2", "TD3", "TD3")]


def mrz_text(data: bytes) -> None:
    from edge.documents import parse_mrz

    text = data.decode("utf-8", "replace")
    result = parse_mrz(text, TODAY)
    json.dumps(result.to_dict())         # the CLI prints every result: it must serialise
    if result.valid:
        assert result.is_mrz


# ---------------------------------------------------------------- serial framing, one target per profile
def _framing(profile_name: str) -> Target:
    def run(data: bytes) -> None:
        from drivers.mrz_framing import PROFILES, Decoded, FrameDecoder

        dec = FrameDecoder(PROFILES[profile_name])
        cut = data[0] % 7 + 1 if data else 1
        out = []
        for i in range(0, len(data), cut):          # the bytes arrive in pieces, as from a serial port
            out += dec.feed(data[i:i + cut])
        out += dec.idle()
        for d in out:
            assert isinstance(d, Decoded) and (d.text is None) != (d.garbage is None), d

    def seeds() -> list[bytes]:
        from drivers.mrz_framing import PROFILES, encode

        return [encode(PROFILES[profile_name], s.decode().split("\n")) for s in _mrz_seeds()[:2]]

    return Target(f"framing_{profile_name}", run, seeds)


# ---------------------------------------------------------------- R30x packets
def r30x_packets(data: bytes) -> None:
    from drivers.backends import finger_r30x as proto

    buf = bytearray(data)
    while buf:
        try:
            got = proto.decode(buf)
        except proto.PacketError:
            return
        if got is None:
            return
        packet, used = got
        assert 0 < used <= len(buf)
        assert proto.encode(packet.pid, packet.payload, packet.address) == bytes(buf[:used])
        with contextlib.suppress(proto.PacketError):
            proto.SysParams.parse(packet.payload)
        with contextlib.suppress(proto.PacketError):
            proto.unpack_image(packet.payload)
        del buf[:used]


def _r30x_seeds() -> list[bytes]:
    from drivers.backends import finger_r30x as proto

    return [proto.command(proto.Cmd.GEN_IMG),
            proto.encode(proto.Pid.ACK, bytes(17)), proto.encode(proto.Pid.DATA, bytes(range(64)))]


# ---------------------------------------------------------------- U.are.U 4000 frame transfers
def uareu_frames(data: bytes) -> None:
    import numpy as np

    from drivers.backends import _finger_uareu4000_wire as wire

    frame = data[:wire.FRAME_LEN]
    try:
        header = wire.FrameHeader.parse(frame)
    except wire.FrameError:
        return
    lines = np.frombuffer(frame, np.uint8, count=header.num_lines * wire.WIDTH, offset=wire.HEADER_LEN).copy()
    wire.line_variance(frame, header)
    if header.num_lines:
        wire.descramble(lines, int.from_bytes(frame[8:12].ljust(4, b"\0"), "little"), 0)
        img = wire.assemble(lines.reshape(-1, wire.WIDTH), header)
        assert img.dtype == np.uint8 and img.shape[1] == wire.WIDTH


def _uareu_seeds() -> list[bytes]:
    from drivers.backends import _finger_uareu4000_wire as wire

    head = bytearray(wire.HEADER_LEN)
    head[4:6] = (20).to_bytes(2, "little")
    head[16:18] = bytes([0, 20])
    return [bytes(head) + bytes(range(256)) * (20 * wire.WIDTH // 256 + 1)]


# ---------------------------------------------------------------- MQTT command payloads
@cache
def _agency():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def mqtt_commands(data: bytes) -> None:
    from edge.uplink import commands

    verdict = commands.check(data, "ping", "post-t/dev-t", _agency().public_key(), now=1_800_000_000)
    assert isinstance(verdict, commands.Command | commands.Rejection)
    if isinstance(verdict, commands.Rejection):
        assert verdict.command_id is None or isinstance(verdict.command_id, str)


def _command_seeds() -> list[bytes]:
    from edge.uplink import commands

    return [commands.sign(n, a, "post-t/dev-t", _agency(), f"c{i}", issued_at=1_800_000_000)
            for i, (n, a) in enumerate((("ping", {}), ("resend", {"from_seq": 3}), ("reload", {})))]


# ---------------------------------------------------------------- alert-list bundles (edge/alerts)
def alert_bundles(data: bytes) -> None:
    from edge.alerts import bundle, entries

    try:
        b = bundle.open_bundle(data, _agency().public_key(), current_version=None)
    except bundle.BundleError:
        pass
    else:
        with contextlib.suppress(entries.ListError):
            (entries.parse_entries if b.kind == "snapshot" else entries.parse_ops)(b.body)
    asm = bundle.Assembler()
    for i, piece in enumerate(data.split(b"\x00BP")[:20]):
        kind, part = ("snapshot" if i % 2 else "delta"), ("manifest" if i % 3 == 0 else "chunk/0")
        topic = f"borderpost/v1/_alerts/{kind}/{part}"
        with contextlib.suppress(bundle.BundleError):
            asm.feed(topic, piece)
    with contextlib.suppress(entries.ListError):
        entries.parse_entries(data)


def _alert_seeds() -> list[bytes]:
    from edge.alerts import bundle

    body = b'{"document_number":"L898902C3","issuing_state":"UTO"}\n'
    return [bundle.make_bundle(body, _agency(), version=v) for v in (1, 2)] + [body]


# ---------------------------------------------------------------- config TOML
def config_toml(data: bytes) -> None:
    from edge.config import ConfigError, parse

    try:
        parse(data.decode("utf-8", "replace"))
    except ConfigError as exc:
        assert "\n" not in str(exc).strip() or len(str(exc)) < 4000   # one message, not a dump


def _config_seeds() -> list[bytes]:
    return [b'[identity]\npost="p"\ndevice="d"\n[broker]\nurl="mqtt://127.0.0.1:1883"\n',
            b'[store]\npath="/tmp/x.db"\nmax_db_mb=10\n[devices.mrz]\nbackend="mrz_serial"\nport="/dev/ttyUSB0"\n']


# ---------------------------------------------------------------- image headers and decoding
def image_headers(data: bytes) -> None:
    from drivers import safe_image

    formats = safe_image.DEFAULT_FORMATS | ({"jpeg2000"} if data[:1] == b"\x00" else set())
    try:
        head = safe_image.check(data, max_pixels=4_000_000, formats=formats)
    except safe_image.ImageRejected:
        return
    assert head.width > 0 and head.height > 0 and head.pixels <= 4_000_000
    try:
        img = safe_image.decode(data, max_pixels=4_000_000, formats=formats)
    except safe_image.ImageRejected:
        return
    assert img.shape[0] * img.shape[1] <= 4_000_000


def _image_seeds() -> list[bytes]:
    import cv2
    import numpy as np

    img = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    return [cv2.imencode(ext, img)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".tiff", ".webp")] + \
        [cv2.imencode(".pgm", img[:, :, 0])[1].tobytes(),
         cv2.imencode(".jp2", np.tile(img, (3, 2, 1)))[1].tobytes()]   # OpenJPEG wants more than 24x32


# ---------------------------------------------------------------- HTTP forms (the UI's form reader + body limit)
@cache
def _form_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from kiosk_ui.security import SecurityMiddleware, WebSessions, issue_token
    from kiosk_ui.web import UI, Denied

    sessions = WebSessions(idle_s=60)
    ws = sessions.new("officer", user="u")

    async def endpoint(request: Request) -> PlainTextResponse:
        try:
            form = await UI.form(None, request, ws, {"name": 40, "lang": 5})  # type: ignore[arg-type]
        except Denied as exc:
            return PlainTextResponse(exc.reason[:80], status_code=exc.status)
        return PlainTextResponse(str(len(form)))

    app = SecurityMiddleware(Starlette(routes=[Route("/f", endpoint, methods=["POST"])]), max_body=64 * 1024)
    return app, ws, issue_token


def http_forms(data: bytes) -> None:
    app, ws, issue_token = _form_app()
    kind = data[:1]
    body = data[1:]
    if kind and kind[0] % 3 == 0:
        ctype = b"multipart/form-data; boundary=" + (body[:8] or b"x")
    elif kind and kind[0] % 3 == 1:
        ctype = b"application/x-www-form-urlencoded"
        body = body + b"&csrf=" + issue_token(ws).encode()
    else:
        ctype = body[:30].split(b"\n")[0] or b"text/plain"
    status: list[int] = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "method": "POST", "path": "/f", "raw_path": b"/f", "query_string": b"",
             "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
             "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    assert status and status[0] in (200, 400, 403, 413, 422), status


def _form_seeds() -> list[bytes]:
    return [b"\x01name=Anna&lang=en", b"\x00--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nA\r\n--x--\r\n"]


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("mrz_text", mrz_text, _mrz_seeds),
    *(_framing(p) for p in ("cr", "crlf", "stx_etx", "prefix_suffix", "init", "swipe_twice")),
    Target("r30x_packets", r30x_packets, _r30x_seeds),
    Target("uareu_frames", uareu_frames, _uareu_seeds),
    Target("mqtt_commands", mqtt_commands, _command_seeds),
    Target("alert_bundles", alert_bundles, _alert_seeds),
    Target("config_toml", config_toml, _config_seeds),
    Target("image_headers", image_headers, _image_seeds),
    Target("http_forms", http_forms, _form_seeds),
]}
