"""A local PostgreSQL cluster on loopback, run from the machine's (Debian's) server binaries."""

from __future__ import annotations

import math
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.localnet import process
from services.localnet.errors import LocalNetworkError
from services.localnet.sharing import exclusive, leased

log = structlog.get_logger()

LOOPBACK = "127.0.0.1"
DEV_PORT = 5433
TEST_PORT = 15432
SUPERUSER = "crossalert"
SERVER_ACCOUNT = "postgres"
"""The system user that runs the server when crossalert runs as root (PostgreSQL refuses root)."""
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_DEBIAN_BINDIRS = Path("/usr/lib/postgresql")
_MAINTENANCE_DATABASE = "postgres"
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A Unix socket path must fit sockaddr_un.sun_path: 108 bytes with the terminating NUL.
_MAX_SOCKET_PATH = 107
# Losing the last transactions, or the whole cluster, to a power cut is fine for test data.
_TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class LocalPostgresError(LocalNetworkError):
    """The local cluster could not be set up, started or stopped."""


@dataclass(frozen=True, slots=True)
class LocalPostgres:
    """One PostgreSQL cluster (a data folder and the server running on it) on loopback."""

    state_dir: Path
    port: int
    durable: bool = True
    host: str = LOOPBACK
    bindir: Path | None = None
    """The folder holding initdb, pg_ctl and postgres; None to look for them."""

    def __post_init__(self) -> None:
        # The data folder's path identifies the server process, so it must be one spelling.
        object.__setattr__(self, "state_dir", self.state_dir.absolute())

    @classmethod
    def for_dev(cls, root: Path) -> LocalPostgres:
        """The development network's cluster: .state/postgres on port 5433."""
        return cls(root / ".state" / "postgres", DEV_PORT)

    @classmethod
    def for_tests(cls, root: Path) -> LocalPostgres:
        """The test suite's cluster: .state/test-postgres on port 15432, without fsync."""
        return cls(root / ".state" / "test-postgres", TEST_PORT, durable=False)

    @property
    def base_url(self) -> str:
        """The server's SQLAlchemy URL without a database: the superuser, trusted on loopback."""
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder (PGDATA), made by initdb."""
        return self.state_dir / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server puts its Unix socket, instead of the system-wide /run/postgresql."""
        return self.state_dir / "socket"

    @property
    def log_file(self) -> Path:
        """The server's own log."""
        return self.state_dir / "postgres.log"

    @property
    def settings(self) -> dict[str, str]:
        """The server settings given on its command line at every start."""
        settings = {"max_connections": "100", "unix_socket_permissions": "0700"}
        return settings if self.durable else settings | _TEST_SETTINGS


@dataclass(frozen=True, slots=True)
class PostgresStatus:
    """What `status` observed about one local cluster."""

    running: bool
    pid: int | None
    url: str
    version: str | None


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A PostgreSQL server to create databases on: a local cluster's or another one."""

    base_url: str
    """Its SQLAlchemy URL without a database, e.g. postgresql+asyncpg://crossalert@host:port."""
    cluster: LocalPostgres | None = None
    """The local cluster serving it; None for a server run by someone else."""


def find_bindir(preferred: Path | None = None) -> Path:
    """The server binaries' folder: `preferred`, `pg_config --bindir`, else Debian's newest."""
    if preferred is not None:
        candidates = [preferred]
    else:
        candidates = [*_pg_config_bindir(), *_debian_bindirs()]
    for folder in candidates:
        if all((folder / program).is_file() for program in _SERVER_PROGRAMS):
            return folder
    searched = ", ".join(str(folder) for folder in candidates) or f"{_DEBIAN_BINDIRS}/*/bin"
    raise LocalPostgresError(
        f"the PostgreSQL server binaries ({', '.join(_SERVER_PROGRAMS)}) are not installed "
        f"(searched {searched}); run scripts/bootstrap.sh"
    )


def start(cluster: LocalPostgres, *, timeout: float = START_TIMEOUT_S) -> PostgresStatus:
    """Create the cluster once, start its server and wait until it accepts connections.

    A running server is kept. Blocking; from a coroutine call it through `asyncio.to_thread`.
    """
    with exclusive(cluster.state_dir / "start.lock"):
        pid = _running_pid(cluster)
        if pid is not None:
            log.info("postgres.already_running", url=cluster.base_url, pid=pid)
        else:
            pid = _launch(cluster, timeout=timeout)
        _wait_until_ready(cluster, pid, timeout=timeout)
        return status(cluster)


def stop(cluster: LocalPostgres, *, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the server (fast shutdown; harder after `timeout` s); False if it was not running."""
    with exclusive(cluster.state_dir / "start.lock"):
        pid = _running_pid(cluster)
        if pid is None:
            return False
        log.info("postgres.stopping", url=cluster.base_url, pid=pid)
        _shut_down(cluster, pid, timeout=timeout)
        log.info("postgres.stopped", url=cluster.base_url, pid=pid)
        return True


def status(cluster: LocalPostgres) -> PostgresStatus:
    """Whether the server runs, its pid, its URL and the cluster's major version."""
    pid = _running_pid(cluster)
    version = process.read_text(cluster.data_dir / "PG_VERSION").strip() or None
    return PostgresStatus(running=pid is not None, pid=pid, url=cluster.base_url, version=version)


@contextmanager
def borrowed(cluster: LocalPostgres) -> Iterator[PostgresStatus]:
    """Keep the server running through the block; of concurrent borrowers, the last stops it."""
    leases = cluster.state_dir.with_name(f"{cluster.state_dir.name}.leases")
    with leased(leases, lambda: start(cluster), lambda: stop(cluster)) as state:
        yield state


def database_url(base_url: str, name: str) -> str:
    """The SQLAlchemy URL of database `name` on the server at `base_url`."""
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def create_database(base_url: str, name: str, *, template: str | None = None) -> str:
    """Create database `name` on the server at `base_url`, empty or a copy of `template`.

    Return its URL. Nobody may be connected to the template while it is copied.
    """
    statement = f'CREATE DATABASE "{_checked_name(name)}"'
    if template is not None:
        statement += f' TEMPLATE "{_checked_name(template)}"'
    await _administer(base_url, statement)
    return database_url(base_url, name)


async def drop_database(base_url: str, name: str) -> None:
    """Drop database `name` if it exists, ending the sessions still connected to it."""
    await _administer(base_url, f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')


async def list_databases(base_url: str) -> list[str]:
    """The names of the databases on the server at `base_url`, templates left out."""
    rows = await _administer(base_url, "SELECT datname FROM pg_database WHERE NOT datistemplate")
    return sorted(str(row[0]) for row in rows)


async def _administer(base_url: str, statement: str) -> list[tuple[object, ...]]:
    # CREATE and DROP DATABASE refuse to run inside a transaction block.
    url = make_url(database_url(base_url, _MAINTENANCE_DATABASE))
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


def _checked_name(name: str) -> str:
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r} is not a lower-case SQL identifier")
    return name


def _launch(cluster: LocalPostgres, *, timeout: float) -> int:
    bindir = find_bindir(cluster.bindir)
    if process.accepts_connections(cluster.host, cluster.port):
        raise LocalPostgresError(
            f"{cluster.host}:{cluster.port} is already taken by another process "
            f"(not the PostgreSQL server of {cluster.state_dir})"
        )
    _prepare_state_dir(cluster)
    _initialize(cluster, bindir)
    stale = cluster.data_dir / "postmaster.pid"
    if stale.exists():
        # Left by a server that was killed or lost with its machine: no process holds it now.
        log.info("postgres.stale_pid_file_removed", path=str(stale))
        stale.unlink()
    if cluster.log_file.exists():
        cluster.log_file.replace(cluster.log_file.with_suffix(".log.1"))
    options = ["-h", cluster.host, "-p", str(cluster.port), "-k", str(cluster.socket_dir)]
    for name, value in cluster.settings.items():
        options += ["-c", f"{name}={value}"]
    started = time.monotonic()
    # pg_ctl hands the options to a shell; -w waits until the server accepts connections.
    result = _run_as_server_account(
        cluster,
        [
            str(bindir / "pg_ctl"),
            "start",
            "-D",
            str(cluster.data_dir),
            "-l",
            str(cluster.log_file),
            "-o",
            shlex.join(options),
            "-w",
            "-t",
            str(math.ceil(timeout)),
        ],
        timeout=timeout + STOP_TIMEOUT_S,
    )
    pid = _running_pid(cluster)
    if result.returncode != 0 or pid is None:
        if pid is not None:
            # A server that cannot come up in time is stopped, not left half-started.
            _shut_down(cluster, pid, timeout=STOP_TIMEOUT_S)
        raise LocalPostgresError(
            f"the PostgreSQL server for {cluster.host}:{cluster.port} did not start "
            f"(pg_ctl exited {result.returncode}; log: {cluster.log_file})",
            detail=process.last_lines(
                process.read_text(cluster.log_file) + result.stdout + result.stderr
            ),
        )
    log.info(
        "postgres.started",
        url=cluster.base_url,
        pid=pid,
        seconds=round(time.monotonic() - started, 2),
        log_file=str(cluster.log_file),
    )
    return pid


def _prepare_state_dir(cluster: LocalPostgres) -> None:
    cluster.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    socket_path = cluster.socket_dir / f".s.PGSQL.{cluster.port}"
    if len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH:
        raise LocalPostgresError(
            f"the server's socket path {socket_path} is longer than Unix sockets allow "
            f"({_MAX_SOCKET_PATH} bytes); keep the cluster's state in a shorter path"
        )
    account = _server_account()
    if account is None:
        return
    for folder in (cluster.state_dir, cluster.socket_dir):
        os.chown(folder, account.pw_uid, account.pw_gid)
    if cluster.data_dir.exists() and cluster.data_dir.stat().st_uid != account.pw_uid:
        # A cluster made by another user: the server refuses a data folder it does not own.
        _chown_tree(cluster.data_dir, account)
    reachable = _run_as_server_account(cluster, ["test", "-w", str(cluster.state_dir)], timeout=10)
    if reachable.returncode != 0:
        raise LocalPostgresError(
            f"the {SERVER_ACCOUNT} user, which runs the server for root, cannot write to "
            f"{cluster.state_dir}: a folder above it is closed to other users; keep the "
            "state where it can reach, or run as a user other than root"
        )


def _initialize(cluster: LocalPostgres, bindir: Path) -> bool:
    if (cluster.data_dir / "PG_VERSION").is_file():
        return False
    # initdb into a side folder and rename, so an interrupted initdb never looks complete.
    staging = cluster.state_dir / "data.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        str(bindir / "initdb"),
        "-D",
        str(staging),
        "-A",
        "trust",
        "-U",
        SUPERUSER,
        "-E",
        "UTF8",
        "--locale=C",
    ]
    if not cluster.durable:
        command.append("--no-sync")
    started = time.monotonic()
    result = _run_as_server_account(cluster, command, timeout=300)
    if result.returncode != 0:
        raise LocalPostgresError(
            f"initdb could not create the cluster in {staging} (exited {result.returncode})",
            detail=process.last_lines(result.stdout + result.stderr),
        )
    staging.rename(cluster.data_dir)
    log.info(
        "postgres.initialized",
        data_dir=str(cluster.data_dir),
        seconds=round(time.monotonic() - started, 2),
    )
    return True


def _wait_until_ready(cluster: LocalPostgres, pid: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (
        _pid_file_says_ready(cluster) and process.accepts_connections(cluster.host, cluster.port)
    ):
        if not process.is_alive(pid, marker=str(cluster.data_dir)):
            raise LocalPostgresError(
                f"the PostgreSQL server for {cluster.host}:{cluster.port} exited "
                f"(log: {cluster.log_file})",
                detail=process.last_lines(process.read_text(cluster.log_file)),
            )
        if time.monotonic() > deadline:
            raise LocalPostgresError(
                f"the PostgreSQL server for {cluster.host}:{cluster.port} (pid {pid}) did not "
                f"accept connections within {timeout:.0f} s (log: {cluster.log_file})",
                detail=process.last_lines(process.read_text(cluster.log_file)),
            )
        time.sleep(0.1)


def _pid_file_says_ready(cluster: LocalPostgres) -> bool:
    # The eighth line of postmaster.pid is the server's state: starting, stopping, ready, standby.
    lines = process.read_text(cluster.data_dir / "postmaster.pid").splitlines()
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _shut_down(cluster: LocalPostgres, pid: int, *, timeout: float) -> None:
    # SIGINT is PostgreSQL's fast shutdown: sessions are ended and a checkpoint written.
    # SIGQUIT, its immediate shutdown, leaves crash recovery to the next start.
    marker = str(cluster.data_dir)
    for signum, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
        with suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while process.is_alive(pid, marker=marker):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        else:
            return
    raise LocalPostgresError(f"the PostgreSQL server (pid {pid}) did not stop")


def _running_pid(cluster: LocalPostgres) -> int | None:
    try:
        pid = int(process.read_text(cluster.data_dir / "postmaster.pid").split("\n", 1)[0])
    except ValueError:
        return None
    # The pid file may outlive its process and the pid be reused: check it is this server.
    return pid if process.is_alive(pid, marker=str(cluster.data_dir)) else None


def _run_as_server_account(
    cluster: LocalPostgres, command: list[str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    if _server_account() is not None:
        command = ["runuser", "-u", SERVER_ACCOUNT, "--", *command]
    # The server account may not be allowed into the caller's working folder.
    return subprocess.run(
        command,
        cwd=cluster.state_dir,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        start_new_session=True,
    )


def _server_account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise LocalPostgresError(
            f"PostgreSQL does not run as root and there is no {SERVER_ACCOUNT} user to run it "
            "as (Debian's postgresql package creates it); run scripts/bootstrap.sh"
        ) from None


def _chown_tree(folder: Path, account: pwd.struct_passwd) -> None:
    os.chown(folder, account.pw_uid, account.pw_gid)
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            os.chown(Path(parent) / name, account.pw_uid, account.pw_gid, follow_symlinks=False)


def _pg_config_bindir() -> list[Path]:
    try:
        result = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False, timeout=10
        )
    except OSError:
        return []
    return [Path(result.stdout.strip())] if result.returncode == 0 else []


def _debian_bindirs() -> list[Path]:
    def major(folder: Path) -> int:
        version = folder.parent.name
        return int(version) if version.isdigit() else -1

    return sorted(_DEBIAN_BINDIRS.glob("*/bin"), key=major, reverse=True)
