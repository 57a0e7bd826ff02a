"""Run the test passport against vsmartcard's vpcd: `python -m tests.chip.card DIR --port N`.

vpcd's socket protocol: each message is a 2-byte big-endian length and a payload; a 1-byte payload is a
control message (0 power off, 1 power on, 2 reset, 4 get ATR), anything longer an APDU to answer.
The card leaves the field by closing the socket (and exiting).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

from tests.chip.card.passport import CardLeft, Passport

# 3B, T0 (TD1 follows, 5 historical bytes), TD1 (TD2 follows, T=0), TD2 (T=1), historical bytes, TCK
ATR_EXTENDED = bytes.fromhex("3B858001" + "8073000040")
ATR_SHORT = bytes.fromhex("3B858001" + "8073000000")


def with_tck(atr: bytes) -> bytes:
    x = 0
    for b in atr[1:]:
        x ^= b
    return atr + bytes([x])


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        # vpcd writes the length and the payload separately: acknowledge at once, or each APDU
        # waits out the kernel's delayed ACK (~40 ms); the flag does not stick, so set it per read
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError("vpcd closed")
        buf += part
    return buf


def serve(card: Passport, host: str, port: int) -> None:
    atr = with_tck(ATR_SHORT if card.cfg["short_le"] else ATR_EXTENDED)
    for _ in range(200):
        try:
            sock = socket.create_connection((host, port))
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("vpcd is not listening")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with sock:
        while True:
            try:
                n = int.from_bytes(_recv(sock, 2), "big")
                msg = _recv(sock, n)
            except ConnectionError:
                return
            if n == 1:
                if msg[0] in (0, 1, 2):
                    card.reset()
                elif msg[0] == 4:
                    sock.sendall(len(atr).to_bytes(2, "big") + atr)
                continue
            try:
                resp = card.process(msg)
            except CardLeft:
                return
            sock.sendall(len(resp).to_bytes(2, "big") + resp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("directory", type=Path)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=35963)
    args = ap.parse_args()
    serve(Passport(args.directory), args.host, args.port)


if __name__ == "__main__":
    main()
