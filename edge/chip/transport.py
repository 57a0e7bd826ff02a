"""The byte pipe to a chip: anything with `transmit(apdu) -> response` (PC/SC, secure messaging on top).

`CountingTransport` counts APDUs for the benchmark; `send` turns a `Command` into (data, SW) and a
vanished card into `CardRemoved`.
"""

from __future__ import annotations

from typing import Protocol

from edge.chip.apdu import Command, split_response


class Transport(Protocol):
    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU, return the response APDU (data + SW1 SW2). Raises CardRemoved."""
        ...


class CountingTransport:
    """Wraps a transport and counts what passes (APDUs and bytes each way)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.apdus = 0
        self.bytes_out = 0
        self.bytes_in = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus += 1
        self.bytes_out += len(apdu)
        raw = self.inner.transmit(apdu)
        self.bytes_in += len(raw)
        return raw


class Channel(Protocol):
    """A command channel: plain (`PlainChannel`) or secure messaging (`edge.chip.sm.SecureChannel`)."""

    def send(self, cmd: Command) -> tuple[bytes, int]: ...


class PlainChannel:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def send(self, cmd: Command) -> tuple[bytes, int]:
        return split_response(self.transport.transmit(cmd.encode()))
