"""The camera simulator: an image player that runs on its own clock at a set frame rate.

It plays image files (a face composed onto a plain background) or synthetic test-pattern frames, and
follows a script of scenes (face, no face, dark, bright, blurred) or live commands from a test
(`present`, `no_face`, `set_gain`, `set_blur`, `unplug`, `replug`). Backends reach a running player by
its id (`camera_sim` config key `player`); a player no longer registered is an unplugged camera.
"""

from __future__ import annotations

import glob
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drivers import safe_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class Scene(BaseModel):
    """One stretch of the script."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0)
    face: bool = True           # False: background only ("no face" stretch)
    gain: float = Field(default=1.0, ge=0, le=10)   # lighting: 0.2 dark, 2.5 washed out
    blur: float = Field(default=0.0, ge=0, le=50)   # Gaussian sigma in pixels (motion, focus)


# Portraits known by name. "astronaut" is NASA's public-domain portrait that scikit-image ships: fetched and
# hash-checked into the models directory by `borderpost models fetch --demo-face` (what `make demo` runs), or
# scikit-image's own copy where that package is installed.
NAMED_PORTRAITS = {"astronaut": ("astronaut.png", "skimage.data")}
# Where the head and shoulders are (x0, y0, x1, y1): the camera frames a traveller, not the whole picture.
PORTRAIT_BOXES = {"astronaut": (134, 6, 314, 252)}
DEFAULT_MODELS_DIR = "/var/lib/borderpost/models"


def named_portrait(name: str) -> Path | None:
    """The file of a named portrait, or None when neither the models directory nor the package has it."""
    filename, package = NAMED_PORTRAITS[name]
    fetched = Path(os.environ.get("BORDERPOST_MODELS_DIR") or DEFAULT_MODELS_DIR) / filename
    if fetched.is_file():
        return fetched
    try:
        import importlib.util

        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        if (Path(root) / filename).is_file():
            return Path(root) / filename
    return None


def source_images(source: str) -> list[Path]:
    """Image files named by `source`: a named portrait, a file, a directory, or a glob; [] for "synthetic"."""
    if source == "synthetic":
        return []
    if source in NAMED_PORTRAITS:
        found = named_portrait(source)
        if found is None:
            raise OSError(f"portrait {source!r} is not here: run `borderpost models fetch --demo-face`")
        return [found]
    p = Path(source)
    if p.is_file():
        return [p]
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(Path(f) for f in glob.glob(source) if Path(f).suffix.lower() in IMAGE_SUFFIXES)


def background(width: int, height: int) -> np.ndarray:
    """A plain, softly lit wall."""
    ramp = np.linspace(170, 200, width, dtype=np.float32)
    bg = np.tile(ramp, (height, 1))
    return np.repeat(bg[:, :, None], 3, axis=2).astype(np.uint8)


def compose(face: np.ndarray, width: int, height: int, fill: float = 0.8) -> np.ndarray:
    """`face` scaled to `fill` of the frame height (keeping aspect), centred on the background."""
    out = background(width, height)
    h, w = face.shape[:2]
    s = min(fill * height / h, 0.95 * width / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    import cv2  # here, not at the top: see drivers.backends._camera_base.frame_quality

    small = cv2.resize(face, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = (height - nh) // 2, (width - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small
    return out


def synthetic(index: int, width: int, height: int) -> np.ndarray:
    """A moving test pattern (no face), sharp and mid-grey so it passes an image-level quality check."""
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)[:, None]
    pattern = 128 + 90 * np.sin((x + 4 * index) / 9.0) * np.cos(y / 11.0)
    grey = pattern.astype(np.uint8)
    import cv2

    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def render(base: np.ndarray | None, scene: Scene, index: int, width: int, height: int) -> np.ndarray:
    img = synthetic(index, width, height) if base is None else (base if scene.face else background(width, height))
    if scene.gain != 1.0:
        img = np.clip(img.astype(np.float32) * scene.gain, 0, 255).astype(np.uint8)
    if scene.blur > 0:
        import cv2

        img = cv2.GaussianBlur(img, (0, 0), scene.blur)
    return img


@dataclass
class Player:
    width: int
    height: int
    fps: float
    images: list[np.ndarray]               # already composed to width x height
    script: list[Scene] = field(default_factory=list)
    seconds_per_image: float = 2.0
    plugged: bool = True
    override: Scene | None = None
    _t0: float = field(default_factory=time.monotonic)
    _last: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scene_at(self, t: float) -> Scene:
        if self.override is not None:
            return self.override
        if not self.script:
            return Scene(seconds=1.0)
        total = sum(s.seconds for s in self.script)
        t = t % total
        for s in self.script:
            if t < s.seconds:
                return s
            t -= s.seconds
        return self.script[-1]

    def read(self, stop: threading.Event | None = None) -> np.ndarray | None:
        """Wait for the next frame slot; the frame, or None when unplugged (a camera gone dark)."""
        with self._lock:
            index = max(self._last + 1, int((time.monotonic() - self._t0) * self.fps))
            self._last = index
        due = self._t0 + index / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
        if not self.plugged:
            return None
        t = index / self.fps
        scene = self.scene_at(t)
        base = self.images[int(t / self.seconds_per_image) % len(self.images)] if self.images else None
        return render(base, scene, index, self.width, self.height)


_PLAYERS: dict[str, Player] = {}
_ids = itertools.count(1)
_registry_lock = threading.Lock()


def register(player: Player) -> str:
    with _registry_lock:
        pid = f"sim-camera-{next(_ids)}"
        _PLAYERS[pid] = player
    return pid


def lookup(pid: str) -> Player | None:
    with _registry_lock:
        return _PLAYERS.get(pid)


def unregister(pid: str) -> None:
    with _registry_lock:
        _PLAYERS.pop(pid, None)


def make_player(source: str, width: int, height: int, fps: float, script: list[Scene],
                seconds_per_image: float = 2.0) -> Player:
    """A player for `source`; unreadable files are skipped (raises OSError if none can be read)."""
    paths = source_images(source)
    images = []
    for p in paths:
        try:
            img = safe_image.read_file(p)
        except safe_image.ImageRejected:
            continue
        if source in PORTRAIT_BOXES:
            x0, y0, x1, y1 = PORTRAIT_BOXES[source]
            img = img[y0:y1, x0:x1]
        images.append(compose(img, width, height))
    if paths and not images:
        raise OSError(f"no readable image in {source!r}")
    if source != "synthetic" and not paths:
        raise OSError(f"no image files match {source!r}")
    return Player(width, height, fps, images, list(script), seconds_per_image)


class Simulation:
    """A running camera simulator; open the `camera_sim` backend with `.config` to watch it."""

    def __init__(self, config: object) -> None:
        from drivers.sim.camera_backend import CameraSimConfig as Config  # late: it imports this module

        cfg = config if isinstance(config, Config) else Config.model_validate(config)
        self.player = make_player(cfg.source, cfg.width, cfg.height, cfg.fps, cfg.script, cfg.seconds_per_image)
        self.id = register(self.player)
        self.config = cfg.model_copy(update={"player": self.id})

    # scene controls (kind-specific methods of a camera simulation)
    def present(self) -> None:
        """A well-lit, sharp face from now on."""
        self.player.override = Scene(seconds=1.0)

    def no_face(self) -> None:
        self.player.override = Scene(seconds=1.0, face=False)

    def set_scene(self, face: bool = True, gain: float = 1.0, blur: float = 0.0) -> None:
        self.player.override = Scene(seconds=1.0, face=face, gain=gain, blur=blur)

    def follow_script(self) -> None:
        self.player.override = None

    def unplug(self) -> None:
        self.player.plugged = False

    def replug(self) -> None:
        self.player.plugged = True

    def close(self) -> None:
        unregister(self.id)


def start(config: object) -> Simulation:
    return Simulation(config)

