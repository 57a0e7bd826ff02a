"""Inference runtimes, one module each, picked by config and imported only when chosen.

`.tflite` models run on LiteRT (`ai-edge-litert`) or `tflite-runtime`; ONNX models on OpenCV DNN, or SFace
on ONNX Runtime (less memory: `runtime_onnxruntime`).
A runtime that is not installed is reported by `available()` (for `borderpost doctor`), never a crash
at import time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

TFLITE_RUNTIMES: dict[str, str] = {
    "litert": "edge.biometrics.face.runtime_litert",
    "tflite-runtime": "edge.biometrics.face.runtime_tflite",
}
ONNX_RUNTIMES: dict[str, str] = {
    "opencv": "edge.biometrics.face.runtime_opencv",
    "onnxruntime": "edge.biometrics.face.runtime_onnxruntime",
}


class RuntimeUnavailable(Exception):
    """The chosen runtime is not installed or cannot load here; the message says which and why."""


class TfliteModel(Protocol):
    def run(self, tensor: np.ndarray) -> list[np.ndarray]: ...


@dataclass
class InterpreterModel:
    """A `.tflite` model behind the tflite Interpreter API (shared by LiteRT and tflite-runtime)."""

    interpreter: Any

    def __post_init__(self) -> None:
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._outputs = [o["index"] for o in self.interpreter.get_output_details()]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self._input["shape"])

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.interpreter.set_tensor(self._input["index"], tensor.astype(self._input["dtype"], copy=False))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(i) for i in self._outputs]


def _module(table: dict[str, str], name: str) -> Any:
    if name not in table:
        raise RuntimeUnavailable(f"unknown runtime {name!r} (known: {', '.join(table)})")
    try:
        module = importlib.import_module(table[name])
        module.check()
    except RuntimeUnavailable:
        raise
    except Exception as exc:
        raise RuntimeUnavailable(f"runtime {name!r} unavailable: {type(exc).__name__}: {exc}") from None
    return module


def load_tflite(name: str, path: str, threads: int = 1) -> InterpreterModel:
    return _module(TFLITE_RUNTIMES, name).load(path, threads)


def onnx_runtime(name: str) -> Any:
    return _module(ONNX_RUNTIMES, name)


def available() -> dict[str, str | None]:
    """Every runtime with None when usable here, else the reason it is not (for `doctor`)."""
    out: dict[str, str | None] = {}
    for table in (TFLITE_RUNTIMES, ONNX_RUNTIMES):
        for name in table:
            try:
                _module(table, name)
                out[name] = None
            except RuntimeUnavailable as exc:
                out[name] = str(exc)
    return out
