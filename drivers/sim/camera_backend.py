"""Simulated camera: frames from a running `drivers.sim.camera_sim` player, or from its own player.

With `player` set (what `drivers.sim.camera_sim.start()` returns in `.config`), the backend watches
that simulator, which a test or demo can steer (no face, dark, blurred, unplugged). Without it, the
backend plays `source` itself on the configured script.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from drivers.backends._camera_base import CameraConfig, ThreadedCamera
from drivers.contract import DeviceInfo, DeviceKind, Discovered
from drivers.sim import camera_sim as sim


class CameraSimConfig(CameraConfig):
    player: str | None = None                 # id of a running simulator; set by the simulator itself
    source: str = "synthetic"                 # "synthetic", an image file, a directory or a glob
    seconds_per_image: float = Field(default=2.0, gt=0)
    script: list[sim.Scene] = Field(default_factory=list)  # scenes played in a loop; empty: a steady face


class CameraSim(ThreadedCamera):
    name = "camera_sim"
    Config = CameraSimConfig

    def __init__(self, config: CameraSimConfig) -> None:
        super().__init__(config)
        self.config: CameraSimConfig = config
        self._player: sim.Player | None = None
        self._own: sim.Player | None = None

    @classmethod
    def discover(cls) -> list[Discovered]:
        return [Discovered(cls.name, {"source": "synthetic"}, "synthetic test-pattern camera")]

    def info(self) -> DeviceInfo:
        return DeviceInfo(kind=DeviceKind.CAMERA, backend=self.name, make="borderpost", model="camera simulator",
                          serial=self.config.player or "standalone", firmware="sim",
                          extra={"width": self.config.width, "height": self.config.height,
                                 "fps": self.config.fps, "source": self.config.source})

    def _connect(self) -> None:
        if self.config.player is not None:
            player = sim.lookup(self.config.player)
            if player is None:
                raise OSError(f"simulator {self.config.player!r} is not running")
        else:
            if self._own is None:
                self._own = sim.make_player(self.config.source, self.config.width, self.config.height,
                                            self.config.fps, self.config.script, self.config.seconds_per_image)
            player = self._own
        if not player.plugged:
            raise OSError("simulated camera unplugged")
        self._player = player

    def _read(self) -> np.ndarray | None:
        player = self._player
        if player is None:
            return None
        if self.config.player is not None and sim.lookup(self.config.player) is None:
            return None
        return player.read(self._stop)

    def _disconnect(self) -> None:
        self._player = None


BACKEND = CameraSim
