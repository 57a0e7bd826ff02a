"""The agency's signed `update` command, run in the background of the uplink: fetch the bundle over the device's
mutual-TLS identity, check its SHA-256, `rauc install` it, and report progress and the result as command results.

The uplink answers the command at once ({"state": "started"}) and keeps delivering events; this job's reports
(same command id, state downloading / installing / installed, or ok=false with the reason) are published by the
uplink's loop. One update at a time. The new system runs from the next reboot (RAUC made its slot primary).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.events.model import CommandResult
from edge.update import rauc
from edge.update.fetch import MAX_BYTES, SHA256, FetchError, Identity, check_url, fetch

log = logging.getLogger("borderpost.update")
REPORT_EVERY_S = 5.0


@dataclass(frozen=True)
class UpdateRequest:
    url: str
    sha256: str
    size: int | None = None


def parse_args(args: dict[str, Any]) -> UpdateRequest:
    """The command's arguments {"url", "sha256", "size"?}, checked; ValueError with the reason."""
    unknown = sorted(set(args) - {"url", "sha256", "size"})
    if unknown:
        raise ValueError(f"unknown update argument {unknown[0]!r:.40}")
    url, digest, size = args.get("url"), args.get("sha256"), args.get("size")
    if not isinstance(url, str) or len(url) > 2048:
        raise ValueError("url must be a string (https://...)")
    try:
        check_url(url)
    except FetchError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(digest, str) or not SHA256.match(digest.lower()):
        raise ValueError("sha256 must be 64 hexadecimal digits")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= 2**40):
        raise ValueError("size must be a positive whole number of bytes")
    return UpdateRequest(url, digest.lower(), size)


def identity_of(cfg: Any) -> Identity:
    """The device's TLS identity from its config (provisioning put it there for the broker)."""
    b = cfg.broker
    if not (b.cert_file and b.key_file and b.ca_file):
        raise ValueError("this device has no TLS client identity (broker.cert_file, key_file, ca_file): "
                         "updates are fetched over mutual TLS only")
    return Identity(Path(b.cert_file), Path(b.key_file), Path(b.ca_file))


class UpdateJobs:
    """At most one update running; its reports wait in a queue for the uplink's loop to publish."""

    def __init__(self, report_every: float = REPORT_EVERY_S) -> None:
        self.report_every = report_every
        self._reports: queue.SimpleQueue[CommandResult] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, command_id: str, args: dict[str, Any], cfg: Any) -> dict[str, Any]:
        """Check the request and start it; the answer to the command itself. ValueError: refused at once."""
        req = parse_args(args)
        identity = identity_of(cfg)
        if self.running:
            raise ValueError("an update is already running")
        workdir = Path(cfg.store.path).parent / "update"
        self._thread = threading.Thread(target=self._run, args=(command_id, req, identity, workdir),
                                        name="borderpost-update", daemon=True)
        self._thread.start()
        return {"state": "started", "url": req.url, "sha256": req.sha256}

    def reports(self) -> list[CommandResult]:
        out = []
        while True:
            try:
                out.append(self._reports.get_nowait())
            except queue.Empty:
                return out

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _report(self, command_id: str, ok: bool, result: dict[str, Any], error: str | None = None) -> None:
        self._reports.put(CommandResult(command_id=command_id, name="update", ok=ok, result=result, error=error))

    def _run(self, command_id: str, req: UpdateRequest, identity: Identity, workdir: Path) -> None:
        last = [0.0]

        def progress(state: str, percent: int) -> None:
            now = time.monotonic()
            if now - last[0] >= self.report_every:
                last[0] = now
                self._report(command_id, True, {"state": state, "percent": percent})

        bundle = workdir / "bundle.raucb"
        try:
            got = fetch(req.url, req.sha256, bundle, identity, max_bytes=req.size or MAX_BYTES,
                        on_progress=lambda n, total: progress("downloading", int(100 * n / total) if total else 0))
            log.info("update bundle fetched (%d bytes in %.1f s), sha256 checked", got.size, got.seconds)
            started = time.monotonic()
            steps = rauc.install(bundle, lambda p: progress("installing", p.percent))
            result = {"state": "installed", "bytes": got.size, "sha256": got.sha256,
                      "fetch_s": round(got.seconds, 1), "install_s": round(time.monotonic() - started, 1),
                      "last_step": steps[-1].message if steps else "", "reboot_required": True}
            log.info("update installed into the other slot; it boots at the next reboot")
            self._report(command_id, True, result)
        except (FetchError, rauc.UpdateError, OSError) as exc:
            log.warning("update failed: %s", exc)
            self._report(command_id, False, {"state": "failed"}, f"update failed: {exc}")
        finally:
            bundle.unlink(missing_ok=True)

