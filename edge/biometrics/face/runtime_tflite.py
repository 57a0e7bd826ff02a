"""`tflite-runtime` 2.14 (Python 3.11 only, needs numpy<2): for images that already ship it."""

from __future__ import annotations

from edge.biometrics.face.runtimes import InterpreterModel, RuntimeUnavailable


def check() -> None:
    import numpy as np
    from tflite_runtime.interpreter import Interpreter  # noqa: F401

    if int(np.__version__.split(".")[0]) >= 2:
        # it imports under numpy 2 but fails at the first call ("compiled using NumPy 1.x")
        raise RuntimeUnavailable(f"tflite-runtime needs numpy<2 (numpy {np.__version__} installed)")


def load(path: str, threads: int = 1) -> InterpreterModel:
    check()
    from tflite_runtime.interpreter import Interpreter

    return InterpreterModel(Interpreter(model_path=path, num_threads=threads))
