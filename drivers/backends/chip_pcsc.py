"""PC/SC contactless readers for passport chips, through pcscd with pyscard.

`capture()` waits for a card in the field and returns its ATR; `session()` then gives the byte pipe the
chip reader (edge.chip) talks through. A reader unplugged, pcscd stopped or a card pulled never raises
out of the contract's methods: status() says `disconnected` (no reader / no pcscd) or `ready` with
"card in the field" / "no card in the field", and the context is re-established with backoff. A card
pulled mid-command raises `CardGone` (a ConnectionError) from `transmit`; the chip layer makes it a verdict.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import ClassVar

from pydantic import Field

from drivers.backoff import Backoff
from drivers.contract import (
    BackendConfig,
    CaptureResult,
    Device,
    DeviceInfo,
    DeviceKind,
    Discovered,
    ErrorCode,
    Sample,
    Status,
    StatusReport,
)

log = logging.getLogger(__name__)

try:
    from smartcard import scard
except ImportError:  # pyscard not installed: the backend reports it rather than breaking the registry
    scard = None

POLL_MS = 250


class CardGone(ConnectionError):
    """The card left the field or the reader went away during a command."""


class ChipPcscConfig(BackendConfig):
    reader: str | None = Field(None, description="reader name or a part of it; default: the first reader")
    protocol: str = Field("any", description="'any', 'T1' or 'T0'")


def _check(hresult: int, what: str) -> None:
    if hresult != scard.SCARD_S_SUCCESS:
        raise CardGone(f"{what}: {scard.SCardGetErrorMessage(hresult)}")


class PcscContext:
    """One PC/SC context; listing readers and waiting for cards (pcscd may come and go)."""

    def __init__(self) -> None:
        if scard is None:
            raise CardGone("pyscard is not installed")
        hresult, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "no PC/SC service (is pcscd running?)")

    def readers(self) -> list[str]:
        hresult, names = scard.SCardListReaders(self.handle, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(hresult, "listing readers")
        return list(names)

    def card_present(self, reader: str, timeout_ms: int = 0) -> bool:
        """Whether a card is in `reader`'s field, waiting up to `timeout_ms` for one to arrive."""
        hresult, states = scard.SCardGetStatusChange(self.handle, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        _check(hresult, "reader state")
        state = states[0][1]
        if state & scard.SCARD_STATE_PRESENT:
            return True
        if timeout_ms <= 0:
            return False
        hresult, states = scard.SCardGetStatusChange(self.handle, timeout_ms, [(reader, state)])
        if hresult == scard.SCARD_E_TIMEOUT:
            return False
        _check(hresult, "waiting for a card")
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)

    def release(self) -> None:
        if self.handle is not None:
            scard.SCardReleaseContext(self.handle)
            self.handle = None


class CardSession:
    """A connected card: `transmit(apdu) -> response APDU`; `CardGone` when the card or reader vanishes."""

    def __init__(self, context: PcscContext, reader: str, protocol: str = "any") -> None:
        protocols = {"any": scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                     "T1": scard.SCARD_PROTOCOL_T1, "T0": scard.SCARD_PROTOCOL_T0}[protocol]
        hresult, self.card, self.protocol = scard.SCardConnect(
            context.handle, reader, scard.SCARD_SHARE_EXCLUSIVE, protocols)
        _check(hresult, "connecting to the card")
        self.reader = reader
        hresult, _name, _state, _proto, atr = scard.SCardStatus(self.card)
        _check(hresult, "card status")
        self.atr = bytes(atr)

    def transmit(self, apdu: bytes) -> bytes:
        if self.card is None:
            raise CardGone("session closed")
        hresult, response = scard.SCardTransmit(self.card, self.protocol, list(apdu))
        _check(hresult, "transmit")
        if len(response) < 2:       # no status word: the card left the field (vpcd answers so)
            raise CardGone("the card gave no answer")
        return bytes(response)

    def close(self) -> None:
        if self.card is not None:
            scard.SCardDisconnect(self.card, scard.SCARD_RESET_CARD)
            self.card = None

    def __enter__(self) -> CardSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_readers() -> list[str]:
    """Reader names, or [] when pcscd is not there."""
    try:
        ctx = PcscContext()
    except CardGone:
        return []
    try:
        return ctx.readers()
    except CardGone:
        return []
    finally:
        ctx.release()


class PcscChipReader(Device):
    kind: ClassVar[DeviceKind] = DeviceKind.CHIP
    name: ClassVar[str] = "chip_pcsc"
    Config: ClassVar[type[BackendConfig]] = ChipPcscConfig

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.cfg: ChipPcscConfig = config  # type: ignore[assignment]
        self._ctx: PcscContext | None = None
        self._backoff = Backoff(initial=0.2, maximum=5.0)
        self._lock = threading.Lock()
        self._reader: str | None = None
        self._last_error = ""

    @classmethod
    def discover(cls) -> list[Discovered]:
        return [Discovered(cls.name, {"reader": r}, f"PC/SC reader {r}") for r in list_readers()]

    def open(self) -> None:
        self._connect_context()

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                self._ctx.release()
                self._ctx = None

    def _connect_context(self) -> PcscContext | None:
        if self._ctx is not None:
            return self._ctx
        if not self._backoff.ready():
            return None
        try:
            self._ctx = PcscContext()
            self._backoff.succeeded()
        except CardGone as exc:
            self._last_error = str(exc)
            self._backoff.failed()
        return self._ctx

    def _find_reader(self) -> str | None:
        ctx = self._connect_context()
        if ctx is None:
            return None
        try:
            names = ctx.readers()
        except CardGone as exc:           # pcscd went away: drop the context, reconnect with backoff
            self._last_error = str(exc)
            ctx.release()
            self._ctx = None
            self._backoff.failed()
            return None
        want = self.cfg.reader
        match = [n for n in names if want is None or n == want] or [n for n in names if want and want in n]
        self._reader = match[0] if match else None
        if self._reader is None:
            self._last_error = f"no reader matching {want!r}" if want else "no PC/SC reader"
        return self._reader

    def info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, self.name, make="PC/SC", model=self._reader or (self.cfg.reader or "unknown"))

    def status(self) -> StatusReport:
        with self._lock:
            reader = self._find_reader()
            if reader is None:
                return StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED, self._last_error)
            try:
                present = self._ctx.card_present(reader) if self._ctx else False
            except CardGone as exc:
                return StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED, str(exc))
        # the reader is ready either way (as an MRZ reader without a document); the detail says which
        return StatusReport(Status.READY, None, "card in the field" if present else "no card in the field")

    def capture(self, timeout: float, min_quality: float | None = None) -> CaptureResult:
        """Wait for a card; the sample's data is its ATR, `meta['reader']` the reader to open a session on."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                reader = self._find_reader()
                ctx = self._ctx
            left_ms = int(max(0.0, end - time.monotonic()) * 1000)
            if reader is not None and ctx is not None:
                try:
                    if ctx.card_present(reader, min(left_ms, POLL_MS)):
                        with self.session(timeout=0) as s:
                            atr = s.atr
                        return CaptureResult(Sample(self.kind, atr, meta={"reader": reader, "atr": atr.hex()}))
                except CardGone as exc:
                    self._last_error = str(exc)
            elif left_ms:
                time.sleep(min(left_ms, POLL_MS) / 1000)
            if time.monotonic() >= end:
                if reader is None:
                    return CaptureResult.fail(ErrorCode.DISCONNECTED, self._last_error)
                return CaptureResult.fail(ErrorCode.NO_SAMPLE, "no card presented")

    def session(self, timeout: float = 0.0) -> CardSession:
        """Connect to the card in the field (waiting up to `timeout`); raises CardGone when there is none."""
        with self._lock:
            reader = self._find_reader()
            ctx = self._ctx
        if reader is None or ctx is None:
            raise CardGone(self._last_error or "no reader")
        if not ctx.card_present(reader, int(timeout * 1000)):
            raise CardGone("no card in the field")
        return CardSession(ctx, reader, self.cfg.protocol)


BACKEND = PcscChipReader
