"""Let nbis-python's bundled OpenCV load on glibc 2.36 (Debian 12, Raspberry Pi OS bookworm).

Why: nbis-python (NIST NBIS + NFIQ 2) ships wheels tagged manylinux_2_28, but its bundled
`libopencv_core.so.413` and `libopencv_imgproc.so.413` were linked on a newer system and ask for five
symbols at version GLIBC_2.38: the C23 variants `__isoc23_strtol`, `__isoc23_strtoll`,
`__isoc23_strtoull`, `__isoc23_sscanf` (they differ from the classic functions only in also accepting
a `0b` binary prefix, which OpenCV's number parsing never meets) and `fmod@GLIBC_2.38` (the same
function with errno handled in a new way). On glibc < 2.38 the dynamic linker refuses the whole library.

The fix is made once, at install time, on the installed files (never at run time under systemd's
read-only file system): each such symbol is pointed at its classic name (the classic name is the tail of
the C23 name in the same string table, so no string is added) and unversioned, and the GLIBC_2.38
version requirement is marked weak. Nothing is changed on glibc >= 2.38, and a patched library is
recognised, so running it again changes nothing.
"""

from __future__ import annotations

import importlib.util
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

NEW_VERSION = "GLIBC_2.38"
C23_PREFIX = "__isoc23_"
VER_FLG_WEAK = 0x2
VER_NDX_GLOBAL = 1
_SYM_SIZE = 24          # Elf64_Sym
_VERNAUX = struct.Struct("<IHHII")
_VERNEED = struct.Struct("<HHIII")


class CompatError(RuntimeError):
    """The libraries cannot be made to load here (a symbol with no classic twin, an unexpected layout)."""


@dataclass(frozen=True)
class Patched:
    path: Path
    symbols: tuple[str, ...]


def glibc_version() -> tuple[int, int]:
    """The running C library's version, e.g. (2, 36); (0, 0) when it is not glibc."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    except (ValueError, OSError, AttributeError):
        return (0, 0)
    major, minor = version.split(".")[:2]
    return (int(major), int(minor)) if name == "glibc" else (0, 0)


def _version_names(elf: ELFFile) -> dict[int, str]:
    sec = elf.get_section_by_name(".gnu.version_r")
    if sec is None:
        return {}
    return {aux.entry["vna_other"]: aux.name for _need, auxes in sec.iter_versions() for aux in auxes}


def plan(path: Path) -> list[tuple[int, str, int]]:
    """(dynsym index, name, st_name) of every symbol this library asks for at GLIBC_2.38."""
    with path.open("rb") as f:
        elf = ELFFile(f)
        names = _version_names(elf)
        versym = elf.get_section_by_name(".gnu.version")
        dynsym = elf.get_section_by_name(".dynsym")
        if versym is None or dynsym is None:
            return []
        wanted = []
        for i, sym in enumerate(dynsym.iter_symbols()):
            ndx = versym.get_symbol(i).entry["ndx"]
            if isinstance(ndx, int) and names.get(ndx & 0x7FFF) == NEW_VERSION:
                wanted.append((i, sym.name, sym.entry["st_name"]))
        return wanted


def patch_library(path: Path) -> Patched:
    """Rewrite one shared library in place (atomically) so it loads on glibc < 2.38."""
    wanted = plan(path)
    data = bytearray(path.read_bytes())
    with path.open("rb") as f:
        elf = ELFFile(f)
        dynsym_off = elf.get_section_by_name(".dynsym")["sh_offset"]
        versym_off = elf.get_section_by_name(".gnu.version")["sh_offset"] if wanted else 0
        need = elf.get_section_by_name(".gnu.version_r")
        dynstr_off = elf.get_section_by_name(".dynstr")["sh_offset"]
        need_off = need["sh_offset"] if need is not None else 0
    if elf.little_endian is False or elf.elfclass != 64:
        raise CompatError(f"{path.name}: not a 64-bit little-endian library")
    for index, name, st_name in wanted:
        if name.startswith(C23_PREFIX):
            st_name += len(C23_PREFIX)          # "__isoc23_strtol" -> its tail "strtol"
        elif name != "fmod":
            raise CompatError(f"{path.name}: {name}@{NEW_VERSION} has no classic twin in glibc < 2.38")
        struct.pack_into("<I", data, dynsym_off + index * _SYM_SIZE, st_name)
        struct.pack_into("<H", data, versym_off + index * 2, VER_NDX_GLOBAL)
    if need_off:
        _weaken(data, need_off, dynstr_off)
    tmp = path.with_name(path.name + ".compat-tmp")
    tmp.write_bytes(bytes(data))
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
    return Patched(path, tuple(name for _i, name, _s in wanted))


def _weaken(data: bytearray, need_off: int, dynstr_off: int) -> None:
    """Mark the GLIBC_2.38 requirement weak: the loader then only warns in debug output if it is absent."""
    pos = need_off
    while True:
        _ver, count, _file, aux, nxt = _VERNEED.unpack_from(data, pos)
        apos = pos + aux
        for _ in range(count):
            vhash, flags, other, name_off, anext = _VERNAUX.unpack_from(data, apos)
            end = data.index(b"\0", dynstr_off + name_off)
            if data[dynstr_off + name_off:end].decode() == NEW_VERSION:
                _VERNAUX.pack_into(data, apos, vhash, flags | VER_FLG_WEAK, other, name_off, anext)
            if not anext:
                break
            apos += anext
        if not nxt:
            return
        pos += nxt


def nbis_libraries() -> list[Path]:
    """The shared libraries of the installed nbis package (without importing it: it may not load yet)."""
    spec = importlib.util.find_spec("nbis")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(p for p in root.rglob("*.so*") if p.is_file() and not p.name.endswith(".compat-tmp"))


def make_loadable() -> list[Patched]:
    """Patch what needs it on this system; [] when glibc is new enough or nothing asks for GLIBC_2.38."""
    if glibc_version() >= (2, 38):
        return []
    return [patch_library(p) for p in nbis_libraries() if plan(p)]
