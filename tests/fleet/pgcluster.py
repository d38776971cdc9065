"""A throwaway PostgreSQL cluster for tests: initdb and pg_ctl in a temporary directory.

The server listens on a Unix socket inside the directory and on 127.0.0.1 at a free port, with
password (SCRAM) authentication over TCP and trust on the socket. As root it runs as an
unprivileged account (initdb refuses root). Binaries come from ``PG_BINDIR``, ``pg_config
--bindir`` or the Debian layout ``/usr/lib/postgresql/N/bin``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Set (as .ci/run does) to make a server that cannot start fail the tests instead of skipping.
REQUIRE_ENV = "PUMPCTL_REQUIRE_POSTGRES"
ADMIN_PASSWORD = "admin-secret"  # noqa: S105  (a throwaway test server)
#: Tries to start the server, each on a newly free port (see start_cluster).
PORT_ATTEMPTS = 3


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (the message says why)."""


def find_bindir() -> Path:
    explicit = os.environ.get("PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(Path(out.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    candidates.extend(debian)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise ClusterUnavailable(
        "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BINDIR)"
    )


def free_port() -> int:
    """A port free a moment ago: another process may take it before the server binds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port that refuses connections while the block runs: bound here, never listening.

    Unlike a port that was merely free a moment ago, no parallel test can start listening on it.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running server: ``admin_dsn`` over the socket, ``tcp_dsn(user, password)`` over TCP."""

    bindir: Path
    base: Path
    port: int
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    def tcp_dsn(self, user: str, password: str, dbname: str = "postgres") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise ClusterUnavailable(
                f"{Path(args[0]).name} failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
            )

    def init(self) -> None:
        self.socket_dir.mkdir(parents=True)
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            for path in (self.base, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        pwfile = self.base / "pw"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if self.run_as:
            os.chown(pwfile, pwd.getpwnam(self.run_as).pw_uid, -1)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-instructions",
        )

    def start(self) -> None:
        options = (
            f"-k {self.socket_dir} -p {self.port} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c shared_buffers=32MB -c max_connections=40"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()


def start_cluster(base: Path) -> Cluster:
    """Create and start a cluster under ``base`` (which must not exist yet)."""
    bindir = find_bindir()
    run_as: str | None = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                run_as = name
                break
        if run_as is None or shutil.which("runuser") is None:
            raise ClusterUnavailable("running as root with no postgres account or no runuser")
    base.mkdir(parents=True)
    os.chmod(base, 0o755)  # noqa: S103  (the server account must reach its directory)
    cluster = Cluster(bindir, base, free_port(), run_as)
    cluster.init()
    for attempt in range(PORT_ATTEMPTS):
        try:
            cluster.start()
            return cluster
        except ClusterUnavailable:
            # Tests run in parallel: between free_port() and the server's bind another test
            # may have taken the port. Only that failure is retried, on a new port.
            log = (base / "server.log").read_text(errors="replace")
            if "Address already in use" not in log or attempt == PORT_ATTEMPTS - 1:
                raise
            cluster.port = free_port()
    raise AssertionError("unreachable")
