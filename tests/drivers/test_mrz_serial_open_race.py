"""A document read before the host opened the port is not lost to the open (issue 19 item 10).

pyserial's open() flushes the input queue: a traveller whose page went through the reader while the station
was still starting (a slow Pi, a restart) vanished, and `simulate` waited 15 s for it ("only 0 of 5 recorded").
"""

from __future__ import annotations

from drivers.backends.mrz_serial import MrzSerial, MrzSerialConfig
from drivers.contract import Status
from drivers.sim.mrz_serial import start
from edge.documents import parse_mrz
from edge.documents.synth import make_mrz


def test_a_read_made_before_the_port_is_opened_is_kept() -> None:
    sim = start(MrzSerialConfig(port="/dev/borderpost/mrz-race", profile="crlf"))
    try:
        lines = make_mrz("TD3")
        sim.present(lines)                   # the reader sends before anyone has the port open
        device = MrzSerial(sim.config)
        device.open()
        try:
            result = device.capture(timeout=5.0)
            assert result.ok, result
            assert parse_mrz("\n".join(lines)).valid
            assert result.sample is not None and result.sample.data.decode().split() == list(lines)
            assert device.status().status is Status.READY
        finally:
            device.close()
    finally:
        sim.close()
