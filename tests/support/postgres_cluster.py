"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, `initdb` in a temporary
folder and `pg_ctl` on a loopback port. PostgreSQL refuses to run as root, so under root the
cluster belongs to, and runs as, the unprivileged `postgres` user (`runuser`)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port

DATABASE_USER = "whisper"


def _server_binaries() -> Path:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    # Debian keeps them out of PATH, one folder per major version.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed (make install installs Debian's)")
    return Path(found[-1]).parent


class PostgresCluster:
    def __init__(self) -> None:
        self._bin = _server_binaries()
        # Not under pytest's temporary folder, whose parents only root may enter.
        self.directory = Path(tempfile.mkdtemp(prefix="whisper-api-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self._owner is not None:
            os.chown(self.directory, self._owner.pw_uid, self._owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", DATABASE_USER, "--auth=trust", "-E", "UTF8", "--no-sync"
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends the sessions and stops; `immediate` stops at once, as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", DATABASE_USER, name)
        return self.url(name)

    def remove(self) -> None:
        subprocess.run(
            self._as_owner(self._bin / "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(self._as_owner(self._bin / program, *args), capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def _as_owner(self, program: Path, *args: str) -> list[str]:
        command = [str(program), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self._owner is not None else command
