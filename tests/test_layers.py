"""The layers, read from the source (ast): who may import whom, and who may drive a device.

drivers/ talk to hardware and know nothing of the appliance; the pure core (documents, biometric scoring
and matching, events) neither imports drivers nor drives a device; the lane (edge/lane) is the one place
that runs a crossing with devices; kiosk_ui is routes and views over the lane; production backends are
chosen by the registry and never import the simulators; nothing shipped imports the tests.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("edge", "drivers", "kiosk_ui", "central")
CORE = ("edge/documents", "edge/biometrics", "edge/events")
# Device-free helpers in drivers/ the core may use: image headers checked before decoding (no device).
CORE_MAY_IMPORT = {"drivers.safe_image"}
DEVICE_CALLS = {"capture", "stream"}


def modules(folder: str) -> Iterator[Path]:
    base = ROOT / folder
    if base.is_dir():
        yield from sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Every module `path` imports, anywhere in it (a lazy import inside a function counts too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append(mod)
            out += [f"{mod}.{a.name}" for a in node.names]      # `from drivers import safe_image`
    return out


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(folders: tuple[str, ...], forbidden: tuple[str, ...], allowed: set[str] = frozenset()) -> list[str]:
    out = []
    for folder in folders:
        for path in modules(folder):
            mods = imports(path)
            for mod in mods:
                if under(mod, *forbidden) and not under(mod, *allowed):
                    if any(m in allowed for m in mods if m.startswith(mod + ".")):
                        continue          # `from drivers import safe_image`: the named submodule decides
                    out.append(f"{path.relative_to(ROOT)} imports {mod}")
    return out


def test_the_import_reader_sees_lazy_relative_and_from_imports(tmp_path):
    probe = ROOT / "edge" / "lane" / "checks.py"
    found = imports(probe)
    assert "edge.events.model" in found and "importlib" in found
    assert under("drivers.sim.camera_sim", "drivers.sim") and not under("driversx", "drivers")


def test_drivers_import_nothing_of_the_appliance():
    assert violations(("drivers",), ("edge", "kiosk_ui", "central", "tests")) == []


def test_the_pure_core_imports_no_drivers_no_lane_no_ui():
    assert violations(CORE, ("drivers", "edge.lane", "edge.station", "kiosk_ui", "edge.cli"),
                      CORE_MAY_IMPORT) == []


def test_the_pure_core_drives_no_device():
    calls = []
    for folder in CORE:
        for path in modules(folder):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr in DEVICE_CALLS:
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()")
    assert calls == []


def test_production_backends_never_import_the_simulators():
    assert violations(("drivers/backends",), ("drivers.sim",)) == []


@pytest.mark.parametrize("package", SHIPPED)
def test_no_shipped_module_imports_the_tests(package):
    assert violations((package,), ("tests",)) == []


def test_the_ui_imports_no_cli_no_drivers_and_drives_no_device():
    assert violations(("kiosk_ui",), ("edge.cli", "drivers")) == []
    calls = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in modules("kiosk_ui")
             for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
             if isinstance(n, ast.Attribute) and n.attr in (*DEVICE_CALLS, "simulation")]
    assert calls == []
