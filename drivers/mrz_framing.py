"""Serial MRZ reader framing: how readers put an MRZ on the wire, and a pure incremental decoder.

The serial backend feeds whatever bytes arrive (split anywhere, with line noise) into `FrameDecoder`.
`encode()` is the host-side view of a profile (tests, the contract suite); the simulator writes its
bytes from its own table so a mistake here cannot hide on both sides. Profiles are documented, with
the reader families they fit, in docs/devices.md ("An MRZ reader profile").
"""

from __future__ import annotations

from dataclasses import dataclass

STX, ETX = b"\x02", b"\x03"
MAX_PENDING = 4096          # bytes: a frame that long is not an MRZ; drop it as garbage
MRZ_SHAPES = {(3, 30), (2, 36), (2, 44)}
MRZ_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")  # ICAO 9303 part 3: the MRZ character set


@dataclass(frozen=True)
class Profile:
    name: str
    line_end: bytes                 # after each MRZ line
    doc_end: bytes = b""            # after the last line's terminator (an empty line), if the reader sends one
    prefix: bytes = b""             # before the first line (frame start: STX or a fixed header)
    suffix: bytes = b""             # after the document (frame end: ETX or a fixed trailer)
    init: bytes = b""               # written by the host after opening the port
    init_ack: bytes = b""           # what the reader answers to `init` (ignored by the decoder)
    repeats: int = 1                # swipe readers that send every read twice
    description: str = ""


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("cr", b"\r", doc_end=b"\r", description="lines end CR, an empty line ends the document"),
    Profile("crlf", b"\r\n", doc_end=b"\r\n", description="lines end CR LF, an empty line ends the document"),
    Profile("stx_etx", b"\r", prefix=STX, suffix=ETX, description="STX, lines separated by CR, ETX"),
    Profile("prefix_suffix", b"\r\n", prefix=b"MRZ:", suffix=b"#\r\n",
            description="fixed header 'MRZ:' before the first line and trailer '#' CR LF after the last"),
    Profile("init", b"\r", doc_end=b"\r", init=b"\x1bE\r", init_ack=b"\x06\r",
            description="host enables output with ESC 'E' CR (reader ACKs), then lines end CR"),
    Profile("swipe_twice", b"\r\n", doc_end=b"\r\n", repeats=2,
            description="swipe reader: every read is sent twice (CR LF lines); duplicates are dropped"),
)}


def encode(profile: Profile, lines: list[str]) -> bytes:
    """The bytes a reader with `profile` sends for one document (all repeats included)."""
    body = b"".join(ln.encode("ascii", "replace") + profile.line_end for ln in lines)
    one = profile.prefix + body + profile.doc_end + profile.suffix
    return one * profile.repeats


@dataclass(frozen=True)
class Decoded:
    """One decoder output: an MRZ (`text`, its lines joined by '\\n') or `garbage` with a reason."""

    text: str | None = None
    garbage: str | None = None


def _is_mrz_line(line: bytes) -> bool:
    return len(line) in (30, 36, 44) and all(chr(b) in MRZ_ALPHABET for b in line)


class FrameDecoder:
    """Incremental decoder: `feed(bytes)` returns the documents (and garbage reports) completed so far.

    Tolerant by design: any of CR, LF, CR LF end a line whatever the profile says (readers are often
    reconfigured in the field); STX/ETX and the profile's prefix/suffix are stripped where they appear;
    a document is complete as soon as its lines have a valid MRZ shape, so a missing end marker costs
    nothing; bytes that cannot be part of an MRZ are reported once per burst as garbage.
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._buf = b""
        self._lines: list[bytes] = []
        self._after_cr = False

    def reset(self) -> None:
        """Forget a partial document (the reader was unplugged mid-MRZ)."""
        self._buf, self._lines, self._after_cr = b"", [], False

    @property
    def pending(self) -> bool:
        return bool(self._buf or self._lines)

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        self._buf += data
        for marker in (self.profile.prefix, self.profile.suffix, self.profile.init_ack, STX, ETX):
            if marker and marker.strip(b"\r\n"):
                self._buf = self._buf.replace(marker.strip(b"\r\n"), b"\n")
        while True:
            cut = min((i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0), default=-1)
            if cut < 0:
                break
            line, sep, self._buf = self._buf[:cut], self._buf[cut:cut + 1], self._buf[cut + 1:]
            if sep == b"\n" and cut == 0 and self._after_cr:
                self._after_cr = False      # the LF of a CR LF pair
                continue
            self._after_cr = sep == b"\r"
            self._line(line.strip(b" \t\x00"), out)
        if len(self._buf) > MAX_PENDING:
            self._buf = b""
            self._lines = []
            out.append(Decoded(garbage=f"more than {MAX_PENDING} bytes without a line end"))
        return out

    def idle(self) -> list[Decoded]:
        """The line went quiet: bytes without a line end are a last line (readers that send no terminator)."""
        out: list[Decoded] = []
        if self._buf:
            line, self._buf = self._buf, b""
            self._line(line.strip(b" \t\x00"), out)
        return out

    def _line(self, line: bytes, out: list[Decoded]) -> None:
        if not line:
            if self._lines:     # an empty line ends a document: what we have is incomplete
                out.append(Decoded(garbage=f"document ended after {len(self._lines)} line(s)"))
                self._lines = []
            return
        if not _is_mrz_line(line):
            self._lines = []
            out.append(Decoded(garbage=f"{len(line)}-byte line that is not an MRZ line"))
            return
        if self._lines and len(line) != len(self._lines[0]):
            out.append(Decoded(garbage="MRZ lines of different lengths"))
            self._lines = []
        self._lines.append(line)
        shape = (len(self._lines), len(line))
        if shape in MRZ_SHAPES:
            out.append(Decoded(text="\n".join(ln.decode("ascii") for ln in self._lines)))
            self._lines = []
        elif len(self._lines) >= 3:
            out.append(Decoded(garbage="too many MRZ lines"))
            self._lines = []
