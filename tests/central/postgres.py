"""A private PostgreSQL server for tests and benchmarks: Debian's binaries, `initdb` + `pg_ctl` in a temp dir,
on a free port, Unix socket in the same dir. initdb refuses to run as root, so as root it runs as `postgres`."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.broker import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("initdb")
    return Path(exe).parent if exe else None


@dataclass
class Postgres:
    directory: Path
    port: int
    bindir: Path
    as_user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> Postgres:
        data = self.directory / "data"
        r = self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync")
        if r.returncode:
            raise RuntimeError(f"initdb failed: {r.stderr.strip()[-400:]}")
        return self.resume()

    def resume(self) -> Postgres:
        """Start the server on its existing data directory (after `stop`)."""
        data = self.directory / "data"
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} "
                "-c fsync=on -c max_connections=50 -c shared_buffers=64MB")
        r = self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                      str(self.directory / "postgres.log"), "-w", "-t", "60", "start")
        if r.returncode:
            log = (self.directory / "postgres.log")
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()[-300:]} "
                               f"{log.read_text()[-400:] if log.exists() else ''}")
        return self

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def createdb(self, name: str) -> str:
        r = self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        if r.returncode:
            raise RuntimeError(f"createdb failed: {r.stderr.strip()}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def start_postgres() -> Postgres:
    bindir = pg_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    root = os.geteuid() == 0
    directory = Path(tempfile.mkdtemp(prefix="central-pg-"))
    if root:
        shutil.chown(directory, "postgres", "postgres")
    return Postgres(directory, free_port(), bindir, "postgres" if root else None).start()
