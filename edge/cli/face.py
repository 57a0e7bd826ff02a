"""`borderpost face`: quality of one image, 1:1 verification of two, live capture, threshold calibration.

Exit codes: quality 0 acceptable / 1 not / 2 no usable face (or unreadable image, models missing);
verify 0 match / 1 no match / 2 a face missing (or two faces in the live image, unreadable image);
capture 0 a frame passed / 1 none did before the timeout / 2 no camera.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edge.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, echo_json, fail

_NO_FACE_EXIT = EXIT_USAGE


def _common(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)
    f = click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Models directory (default: $BORDERPOST_MODELS_DIR or /var/lib/borderpost/models).")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Take [quality.face] thresholds from this appliance config.")(f)
    return f


_ANALYZERS: dict[tuple[Path | None, tuple[tuple[str, float], ...]], Any] = {}


def _analyzer(models_dir: Path | None, config_path: Path | None) -> Any:
    """One analyzer per (models, settings) in this process: repeated in-process calls do not reload models."""
    table: dict[str, float] = {}
    if config_path is not None:
        from edge.cli._common import load_config

        table = load_config(config_path).quality.get("face", {})
    key = (models_dir, tuple(sorted(table.items())))
    if key not in _ANALYZERS:
        _ANALYZERS[key] = _new_analyzer(models_dir, table)
    return _ANALYZERS[key]


def _new_analyzer(models_dir: Path | None, table: dict[str, float]) -> Any:
    from pydantic import ValidationError

    from edge.biometrics.face.analyzer import FaceAnalyzer, FaceConfig
    from edge.biometrics.face.models import ModelError
    from edge.biometrics.face.runtimes import RuntimeUnavailable

    try:
        return FaceAnalyzer(FaceConfig.from_quality_table(table, models_dir=models_dir))
    except (ModelError, RuntimeUnavailable) as exc:
        fail(str(exc))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        fail(f"quality.face: {where}: {err['msg'].removeprefix('Value error, ')}")


def _load(path: Path) -> Any:
    from edge.biometrics.face import imageio

    return imageio.load(path)


def _print_report(title: str, rep: Any) -> None:
    click.echo(f"{title}: {'ACCEPTABLE' if rep.acceptable else 'NOT ACCEPTABLE'}  score {rep.score} ({rep.algorithm})"
               + (f"  error {rep.error.value} ({rep.detail})" if rep.error else ""))
    for name, c in rep.components.items():
        raw = "-" if c.raw is None else f"{c.raw:.3f}"
        mark = "ok " if c.passed else ("-- " if c.gated else "   ")
        click.echo(f"  {mark}{name:24s} raw {raw:>10s}  score {c.score:5.1f}  (min {c.threshold:g})")
    if rep.feedback:
        click.echo(f"  feedback: {', '.join(rep.feedback)}")


@click.group("face")
def cli() -> None:
    """Face quality (ISO/IEC 29794-5 style), 1:1 verification and threshold calibration."""


@cli.command("quality")
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@_common
def quality_cmd(image: Path, as_json: bool, models_dir: Path | None, config_path: Path | None) -> None:
    """Score IMAGE: components (raw and 0-100), feedback keys, acceptable."""
    from edge.biometrics.face.analyzer import FaceQualityReport
    from edge.biometrics.face.errors import FaceError
    from edge.biometrics.face.imageio import ImageLoadError

    analyzer = _analyzer(models_dir, config_path)
    img = _load(image)
    rep = FaceQualityReport.failed(img.error, img.detail) if isinstance(img, ImageLoadError) \
        else analyzer.quality(img)
    if as_json:
        echo_json(rep.to_dict())
    else:
        _print_report(str(image), rep)
    if rep.acceptable:
        raise SystemExit(EXIT_OK)
    raise SystemExit(EXIT_FAIL if rep.error in (None, FaceError.MULTIPLE_FACES) else _NO_FACE_EXIT)


@cli.command("verify")
@click.argument("live", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("portrait", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--largest-face", is_flag=True,
              help="Use the largest face when LIVE shows several (offline photos; never at a kiosk).")
@_common
def verify_cmd(live: Path, portrait: Path, largest_face: bool, as_json: bool, models_dir: Path | None,
               config_path: Path | None) -> None:
    """Compare the face in LIVE with the face in PORTRAIT: score, threshold, match, both qualities."""
    from edge.biometrics.face.analyzer import FaceMatch, FaceQualityReport
    from edge.biometrics.face.imageio import ImageLoadError

    analyzer = _analyzer(models_dir, config_path)
    a, b = _load(live), _load(portrait)
    if isinstance(a, ImageLoadError) or isinstance(b, ImageLoadError):
        qa = FaceQualityReport.failed(a.error, a.detail) if isinstance(a, ImageLoadError) else analyzer.quality(a)
        qb = FaceQualityReport.failed(b.error, b.detail) if isinstance(b, ImageLoadError) else analyzer.quality(b)
        bad = a if isinstance(a, ImageLoadError) else b
        res = FaceMatch(None, analyzer.config.match_threshold, False, qa, qb, bad.error,  # type: ignore[union-attr]
                        "live" if isinstance(a, ImageLoadError) else "portrait")
    else:
        res = analyzer.verify(a, b, live_multiple="largest" if largest_face else "error")
    if as_json:
        echo_json(res.to_dict())
    else:
        if res.error:
            click.echo(f"NO DECISION: {res.which}: {res.error.value}")
        else:
            click.echo(f"{'MATCH' if res.match else 'NO MATCH'}  score {res.score:.4f}  threshold {res.threshold}"
                       f"  (target FMR {res.target_fmr:g})")
        _print_report(f"live {live}", res.quality_live)
        _print_report(f"portrait {portrait}", res.quality_portrait)
    if res.error:
        raise SystemExit(_NO_FACE_EXIT)
    raise SystemExit(EXIT_OK if res.match else EXIT_FAIL)


@cli.command("calibrate")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--pairs", "pairs_csv", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="a,b,same CSV; default: every pair of images in DIRECTORY (identity = "
                                 "the first 8 characters of the file name, e.g. person01).")
@click.option("--fmr", "target_fmr", type=click.FloatRange(1e-6, 0.5), default=0.001, show_default=True,
              help="False-match rate the threshold is chosen for.")
@_common
def calibrate_cmd(directory: Path, pairs_csv: Path | None, target_fmr: float, as_json: bool,
                  models_dir: Path | None, config_path: Path | None) -> None:
    """Score genuine and impostor pairs and choose the match threshold for a target FMR."""
    from edge.biometrics.face import calibration as cal

    analyzer = _analyzer(models_dir, config_path)
    names = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    pairs = cal.read_pairs(pairs_csv) if pairs_csv else cal.all_pairs(names)
    emb: dict[str, Any] = {}
    for name in {n for p in pairs for n in (p.a, p.b)}:
        img = _load(directory / name)
        emb[name] = None if not hasattr(img, "shape") else analyzer.embedding(img)[0]
    gen, imp, skipped = [], [], 0
    for p in pairs:
        ea, eb = emb.get(p.a), emb.get(p.b)
        if ea is None or eb is None:
            skipped += 1
            continue
        (gen if p.genuine else imp).append(float(ea @ eb))
    if len(imp) < 2 or not gen:
        fail("need genuine pairs and at least two impostor pairs with faces")
    rep = cal.calibrate(gen, imp, target_fmr, skipped)
    if as_json:
        echo_json(rep.to_dict())
        return
    for k, v in rep.to_dict().items():
        click.echo(f"{k:16s} {v}")


@cli.command("capture")
@click.option("--device", "device_name", default=None,
              help="Camera device name in the config (default: the first that is not [policy] portrait_camera).")
@click.option("--timeout", type=click.FloatRange(0.5, 120), default=10.0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the captured frame here (PNG/JPEG, mode 0600). Biometric data: only when needed.")
@click.option("--simulated", is_flag=True, help="Start the camera's simulator even if the config does not say so.")
@_common
def capture_cmd(device_name: str | None, timeout: float, out: Path | None, simulated: bool, as_json: bool,
                models_dir: Path | None, config_path: Path | None) -> None:
    """Run the kiosk's auto-capture on the configured camera, printing the feedback for each frame."""
    import os

    import cv2

    from drivers.contract import DeviceKind
    from edge.cli._common import load_config
    from edge.devices import open_devices
    from edge.lane.face_capture import AutoCaptureResult, auto_capture

    cfg = load_config(config_path)
    analyzer = _analyzer(models_dir, config_path)
    devices = open_devices(cfg, force_simulated=simulated)
    try:
        if device_name is not None:
            cam = next((d for d in devices.of_kind(DeviceKind.CAMERA) if d.name == device_name), None)
        else:   # the default is a face camera, not the one that images the document page
            cam = devices.first(DeviceKind.CAMERA, exclude=cfg.policy.portrait_camera)
        if cam is None or cam.device is None:
            fail(f"no camera{' named ' + device_name if device_name else ''} in the config could be opened")
        result: AutoCaptureResult | None = None
        for item in auto_capture(cam.device, analyzer, timeout=timeout):
            if isinstance(item, AutoCaptureResult):
                result = item
            elif as_json:
                echo_json({"frame": item.index, "score": item.report.score, "acceptable": item.report.acceptable,
                           "feedback": list(item.feedback)})
            else:
                click.echo(f"frame {item.index:4d}  score {item.report.score:5.1f}  "
                           f"{'PASS' if item.report.acceptable else ', '.join(item.feedback) or '-'}")
    finally:
        devices.close()
    assert result is not None
    if result.ok and out is not None and result.image is not None:
        ok, buf = cv2.imencode(out.suffix or ".png", result.image)
        if not ok:
            fail(f"{out}: cannot encode as {out.suffix}")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(buf.tobytes())
    if as_json:
        echo_json({"result": result.to_dict()})
    else:
        click.echo(f"{'CAPTURED' if result.ok else 'NOT CAPTURED'}: {result.frames} frames in {result.elapsed:.1f} s"
                   + (f", score {result.report.score}" if result.ok and result.report else "")
                   + (f" ({result.error.value}: {result.detail})" if result.error else ""))
    raise SystemExit(EXIT_OK if result.ok else EXIT_FAIL)
