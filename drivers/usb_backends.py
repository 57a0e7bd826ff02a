"""pyusb backends by name, so a USB device backend can be pointed at libusb or at an in-process stand-in.

Why: the U.are.U simulator is a pyusb backend object living in the same process. It registers itself
here under an id, and the production backend resolves `usb_backend = "sim:<id>"` through this table,
so production code never imports a simulator module.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_registered: dict[str, Any] = {}


def register(name: str, backend: Any) -> None:
    with _lock:
        _registered[name] = backend


def unregister(name: str) -> None:
    with _lock:
        _registered.pop(name, None)


def resolve(name: str) -> Any:
    """A pyusb backend object for `name` ("default" → None: pyusb picks libusb1)."""
    if name == "default":
        return None
    if name.startswith("sim:"):
        with _lock:
            found = _registered.get(name)
        if found is None:
            raise ValueError(f"no running USB simulator {name[4:]!r}")
        return found
    if name == "libusb1":
        import usb.backend.libusb1 as b1

        return b1.get_backend()
    if name == "libusb0":
        import usb.backend.libusb0 as b0

        return b0.get_backend()
    raise ValueError(f"unknown usb_backend {name!r}")
