"""Golden MRZ reader byte streams, written by hand from the reader families' output descriptions.

One ICAO 9303 specimen (the TD3 example of part 4, appendix A) as each framing profile puts it on the wire.
Both the decoder (drivers.mrz_framing) and the simulator (drivers.sim.mrz_serial) are checked against these
bytes, so a mistake shared by the two cannot pass unseen.
"""

from __future__ import annotations

TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
_L1, _L2 = (ln.encode("ascii") for ln in TD3)

GOLDEN: dict[str, bytes] = {
    "cr": _L1 + b"\r" + _L2 + b"\r" + b"\r",
    "crlf": _L1 + b"\r\n" + _L2 + b"\r\n" + b"\r\n",
    "stx_etx": b"\x02" + _L1 + b"\r" + _L2 + b"\r" + b"\x03",
    "prefix_suffix": b"MRZ:" + _L1 + b"\r\n" + _L2 + b"\r\n" + b"#\r\n",
    "init": _L1 + b"\r" + _L2 + b"\r" + b"\r",
    "swipe_twice": (_L1 + b"\r\n" + _L2 + b"\r\n" + b"\r\n") * 2,
}
INIT = {"init": (b"\x1bE\r", b"\x06\r")}   # host command, reader's ACK
