"""LiteRT (`ai-edge-litert`), the successor of tflite-runtime: wheels for Python 3.11-3.13, numpy 2."""

from __future__ import annotations

from edge.biometrics.face.runtimes import InterpreterModel


def check() -> None:
    from ai_edge_litert.interpreter import Interpreter  # noqa: F401


def load(path: str, threads: int = 1) -> InterpreterModel:
    from ai_edge_litert.interpreter import Interpreter

    return InterpreterModel(Interpreter(model_path=path, num_threads=threads))
