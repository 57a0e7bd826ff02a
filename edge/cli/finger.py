"""`borderpost finger`: score fingerprint images, capture one print from a configured sensor or simulator.

Exit codes: 0 every image acceptable / capture acceptable; 1 something scored below the threshold or no
finger came; 2 bad input (unreadable image, unknown device, bad config).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from edge.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, config_option, echo_json, fail, load_config


@click.group("finger")
def cli() -> None:
    """Fingerprints: NFIQ 2-class quality and capture."""


@cli.command("quality")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="Acceptable at or above this score (default: the built-in threshold).")
@click.option("--components", is_flag=True, help="Include the feature values behind the score.")
def quality_cmd(images: tuple[Path, ...], as_json: bool, threshold: float | None, components: bool) -> None:
    """Score each IMAGE 0-100 (NFIQ 2 scale) and say what the traveller should change."""
    from edge.biometrics.finger import DEFAULT_THRESHOLD, InvalidImage, assess
    from edge.biometrics.finger.imageio import load

    thr = DEFAULT_THRESHOLD if threshold is None else threshold
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for path in images:
        try:
            q = assess(load(path), thr)
        except InvalidImage as exc:
            results.append({"image": str(path), "error": exc.reason, "detail": exc.detail})
            code = EXIT_USAGE
            continue
        d = q.to_dict()
        if not components:
            d.pop("components")
        results.append({"image": str(path), **d})
        if not q.acceptable and code == EXIT_OK:
            code = EXIT_FAIL
    if as_json:
        echo_json(results)
    else:
        for r in results:
            if "error" in r:
                click.echo(f"{r['image']}: error {r['error']}: {r['detail']}", err=True)
            else:
                verdict = "acceptable" if r["acceptable"] else "NOT acceptable"
                fb = ", ".join(r["feedback"]) or "-"
                click.echo(f"{r['image']}: score {r['score']:.0f} {verdict}; feedback: {fb}")
    raise SystemExit(code)


@cli.command("capture")
@config_option
@click.option("--device", "device_name", required=True, help="Device name from [devices.<name>] in the config.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the best print (PNG).")
@click.option("--finger", default="right_index", show_default=True, help="Which finger (for the record).")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=10.0, show_default=True,
              help="Seconds per attempt.")
@click.option("--retries", type=click.IntRange(0, 10), default=1, show_default=True)
@click.option("--threshold", type=click.FloatRange(0, 100), default=None)
def capture_cmd(config_path: Path | None, device_name: str, out_path: Path, finger: str, timeout: float,
                retries: int, threshold: float | None) -> None:
    """Capture one print from a configured fingerprint device (or its simulator when simulated = true)."""
    import cv2

    from drivers import registry
    from drivers.contract import DeviceKind
    from edge.biometrics.finger import DEFAULT_THRESHOLD, FINGERS, capture_finger

    if finger not in FINGERS:
        fail(f"--finger {finger}: expected one of {', '.join(FINGERS)}")
    cfg = load_config(config_path)
    if threshold is None:
        threshold = cfg.quality.get("fingerprint", {}).get("min_score", DEFAULT_THRESHOLD)
    entry = cfg.devices.get(device_name)
    if entry is None:
        fail(f"no device {device_name!r} in the config (have: {', '.join(cfg.devices) or 'none'})")
    try:
        cls = registry.load_backend(entry.backend)
        settings = cls.Config.model_validate(entry.settings)
    except (registry.BackendUnavailable, registry.ValidationError) as exc:
        fail(f"device {device_name}: {exc}")
    if cls.kind is not DeviceKind.FINGERPRINT:
        fail(f"device {device_name} is a {cls.kind} device, not a fingerprint sensor")
    sim = None
    if entry.simulated:
        sim = registry.start_simulator(entry.backend, settings)
        settings = sim.config
        sim.finger_on()  # the simulated traveller keeps a finger on the glass
    device = cls(settings)
    try:
        device.open()
        result = capture_finger(device, finger, timeout, retries, threshold=threshold)
    finally:
        device.close()
        if sim is not None:
            with contextlib.suppress(Exception):
                sim.close()
    summary = result.to_dict()
    if result.image is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out_path), result.image):
            fail(f"cannot write {out_path}")
        summary["out"] = str(out_path)
    echo_json(summary)
    raise SystemExit(EXIT_OK if result.ok else EXIT_FAIL)
