"""Build hook: compile `edge/documents/_mrzscan.c`, the MRZ parser's compiled scan.

Why a hook rather than setuptools: the project builds with hatchling, and this one C file needs only
the compiler and the headers Python itself was built with (found through sysconfig). When no compiler
is there the wheel is built pure Python and the parser runs the identical Python scan, about 2x slower
per document (`borderpost doctor` and `bench/mrz_parse.py` say which one runs). Set
BORDERPOST_NO_EXTENSION=1 to skip compiling on purpose.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "edge/documents/_mrzscan.c"


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or os.environ.get("BORDERPOST_NO_EXTENSION"):
            return
        root = Path(self.root)
        target = root / f"edge/documents/_mrzscan{sysconfig.get_config_var('EXT_SUFFIX')}"
        cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
        with tempfile.TemporaryDirectory() as tmp:
            built = Path(tmp) / target.name
            cmd = [*cc, "-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-I", sysconfig.get_paths()["include"],
                   str(root / SOURCE), "-o", str(built)]
            try:
                subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.SubprocessError) as exc:
                detail = getattr(exc, "stderr", "") or exc
                self.app.display_warning(f"borderpost: {SOURCE} not compiled ({detail}); the MRZ parser "
                                         "will use its pure-Python scan")
                return
            os.replace(built, target)   # never a half-written module in the tree
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["artifacts"].append(str(target.relative_to(root)))
