"""ONNX Runtime for the SFace recogniser; the YuNet detector stays on OpenCV's FaceDetectorYN.

Why: the packaged SFace is block-quantised int8 (10.7 MB). OpenCV DNN dequantises it to float at load
and packs the weights again at the first forward (about 100 MB more in the process); ONNX Runtime keeps
the int8 weights and dequantises per run into buffers it frees (about 40 MB less after warm-up, the same
embeddings). YuNet's decoding and non-maximum suppression live in FaceDetectorYN, so it stays there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.biometrics.face import runtime_opencv
from edge.biometrics.face.runtimes import RuntimeUnavailable
from edge.heap import release_free_heap

SIDE = 112
_threads = 1


def check() -> None:
    runtime_opencv.check()
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise RuntimeUnavailable(f"onnxruntime is not installed (pip install onnxruntime): {exc}") from None


def set_threads(threads: int) -> None:
    global _threads
    _threads = max(1, threads)
    runtime_opencv.set_threads(threads)


def load_detector(path: str, score_threshold: float, nms_threshold: float = 0.3) -> Any:
    return runtime_opencv.load_detector(path, score_threshold, nms_threshold)


class Recogniser:
    """SFace with FaceRecognizerSF's `feature` contract: a 112x112 BGR crop in, a (1, 128) float32 row out.

    Runs through an IO binding: the packaged model still declares, as graph inputs, the float weights it
    was quantised from, though no node reads them; `InferenceSession.run` insists that every declared input
    be fed, the binding feeds what the graph reads.
    """

    def __init__(self, path: str, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False    # per-run buffers go back to the heap (see `feature`)
        options.log_severity_level = 3          # the stale inputs above are reported as warnings at every load
        try:
            self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph family for unreadable models
            raise RuntimeUnavailable(f"onnxruntime cannot load {path}: {type(exc).__name__}: {exc}") from None
        images = [i for i in self._session.get_inputs() if list(i.shape)[-3:] == [3, SIDE, SIDE]]
        if not images:
            raise RuntimeUnavailable(f"{path}: no 3x{SIDE}x{SIDE} image input: not SFace")
        self._input = images[0].name
        self._output = self._session.get_outputs()[0].name

    def feature(self, crop: np.ndarray) -> np.ndarray:
        if crop.shape != (SIDE, SIDE, 3) or crop.dtype != np.uint8:
            raise ValueError(f"expected a {SIDE}x{SIDE} BGR uint8 crop, got {crop.shape} {crop.dtype}")
        blob = np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)   # RGB, NCHW
        binding = self._session.io_binding()
        binding.bind_cpu_input(self._input, blob)
        binding.bind_output(self._output)
        self._session.run_with_iobinding(binding)
        out = binding.copy_outputs_to_cpu()[0]
        release_free_heap()     # the run's dequantised weights were freed: give their pages back now
        return out


def load_recogniser(path: str) -> Recogniser:
    return Recogniser(path, _threads)
