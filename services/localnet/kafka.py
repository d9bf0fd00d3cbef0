"""The local Apache Kafka broker, run from its Maven Central jars on loopback: one KRaft node by
default, or a cluster of three (each node broker and controller) for what deployments run."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from schemas.topics import BROKER_MAX_MESSAGE_BYTES
from services.common.kafka import PARTITIONS, replication_for
from services.localnet import process
from services.localnet.errors import LocalNetworkError
from services.localnet.sharing import exclusive, leased

log = structlog.get_logger()

LOOPBACK = "127.0.0.1"
DEV_PORTS = (9092, 9093)
TEST_PORTS = (19092, 19093)
CLUSTER_SIZE = 3
DEV_CLUSTER_PORTS = 9192  # node n listens on first + 100 (n - 1), its controller one above
TEST_CLUSTER_PORTS = 19500
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0

_JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
_LOG4J2_CONFIG = Path(__file__).with_name("log4j2.xml")
_BROKER_MAIN = "kafka.Kafka"
_STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"


class LocalKafkaError(LocalNetworkError):
    """The local broker could not be set up, started or stopped."""


@dataclass(frozen=True, slots=True)
class LocalBroker:
    """One KRaft node (broker and controller in one process) on loopback: alone, or one of a
    cluster whose controllers' ports `quorum` lists by node id."""

    root: Path
    state_dir: Path
    port: int
    controller_port: int
    host: str = LOOPBACK
    node_id: int = 1
    quorum: tuple[tuple[int, int], ...] = ()

    @property
    def voters(self) -> tuple[tuple[int, int], ...]:
        """(node id, controller port) of every controller of its cluster, itself included."""
        return self.quorum or ((self.node_id, self.controller_port),)

    @classmethod
    def for_dev(cls, root: Path) -> LocalBroker:
        """The development network's broker: .state/kafka on ports 9092/9093."""
        return cls(root, root / ".state" / "kafka", *DEV_PORTS)

    @classmethod
    def for_tests(cls, root: Path) -> LocalBroker:
        """The test suite's broker: .state/test-kafka on ports 19092/19093."""
        return cls(root, root / ".state" / "test-kafka", *TEST_PORTS)

    @property
    def bootstrap(self) -> str:
        """The address Kafka clients bootstrap from."""
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The broker's log.dirs: topic partitions and the KRaft metadata log."""
        return self.state_dir / "data"

    @property
    def config_file(self) -> Path:
        """The generated server.properties."""
        return self.state_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        """The broker's own log (its stdout and stderr)."""
        return self.state_dir / "broker.log"

    @property
    def pid_file(self) -> Path:
        """The pid of the running broker."""
        return self.state_dir / "broker.pid"


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """What `status` observed about one local broker."""

    running: bool
    pid: int | None
    bootstrap: str
    version: str | None


def repo_root() -> Path:
    """The crossalert checkout: $CROSSALERT_HOME, else the folder above this code with kafka/."""
    home = os.environ.get("CROSSALERT_HOME")
    candidates = [Path(home)] if home else list(Path(__file__).resolve().parents)
    for folder in candidates:
        if (folder / "kafka" / "pom.xml").is_file():
            return folder.resolve()
    where = f"CROSSALERT_HOME={home}" if home else f"the folders above {Path(__file__).parent}"
    raise LocalKafkaError(f"no crossalert checkout (a folder holding kafka/pom.xml) in {where}")


def libs_dir(root: Path) -> Path:
    """The folder holding the broker's jars."""
    return root / ".cache" / "kafka" / "libs"


def kafka_version(root: Path) -> str | None:
    """The Kafka version of the fetched jars, or None before they are fetched."""
    for jar in libs_dir(root).glob("kafka_2.13-*.jar"):
        return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
    return None


def ensure_jars(root: Path) -> Path:
    """Copy the broker's jars from Maven Central into .cache/kafka/libs, once per kafka/pom.xml."""
    libs = libs_dir(root)
    pom = root / "kafka" / "pom.xml"
    pom_digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    stamp_name = ".pom-sha256"
    with exclusive(libs.with_name("fetch.lock")):
        stamp = libs / stamp_name
        if stamp.is_file() and stamp.read_text().strip() == pom_digest:
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError("Maven (mvn) is not installed; run scripts/bootstrap.sh")
        # Copy into a side folder and rename, so an interrupted fetch never looks complete.
        staging = libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        log.info("kafka.jars.fetching", pom=str(pom), into=str(libs))
        started = time.monotonic()
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalKafkaError(
                f"Maven could not fetch the Kafka jars (mvn exited {result.returncode})",
                # Maven colours its output even in batch mode.
                detail=_last_lines(re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)),
            )
        (staging / stamp_name).write_text(pom_digest + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        log.info("kafka.jars.fetched", seconds=round(time.monotonic() - started, 1))
        return libs


@dataclass(frozen=True, slots=True)
class LocalCluster:
    """Three KRaft nodes on loopback, each broker and controller, sharing one cluster id."""

    brokers: tuple[LocalBroker, ...]

    @classmethod
    def of(cls, root: Path, state_dir: Path, first_port: int) -> LocalCluster:
        ports = [first_port + 100 * i for i in range(CLUSTER_SIZE)]
        quorum = tuple((i + 1, port + 1) for i, port in enumerate(ports))
        return cls(
            tuple(
                LocalBroker(
                    root, state_dir / f"node-{i + 1}", port, port + 1, node_id=i + 1, quorum=quorum
                )
                for i, port in enumerate(ports)
            )
        )

    @classmethod
    def for_dev(cls, root: Path) -> LocalCluster:
        """The development network's cluster: .state/kafka-cluster, ports 9192, 9292, 9392."""
        return cls.of(root, root / ".state" / "kafka-cluster", DEV_CLUSTER_PORTS)

    @classmethod
    def for_tests(cls, root: Path) -> LocalCluster:
        """The fault drills' cluster: .state/test-kafka-cluster, ports 19500, 19600, 19700."""
        return cls.of(root, root / ".state" / "test-kafka-cluster", TEST_CLUSTER_PORTS)

    @property
    def bootstrap(self) -> str:
        """Every node's address: a client finds the cluster while any one of them answers."""
        return ",".join(broker.bootstrap for broker in self.brokers)

    @property
    def state_dir(self) -> Path:
        """The folder holding every node's state and the cluster's id."""
        return self.brokers[0].state_dir.parent


def write_config(broker: LocalBroker) -> Path:
    """Write the broker's server.properties and return its path."""
    controller = f"{broker.host}:{broker.controller_port}"
    replicas, min_insync = replication_for(len(broker.voters))
    properties = {
        "process.roles": "broker,controller",
        "node.id": str(broker.node_id),
        # A static voter set, unlike a formatted dynamic quorum, lets the ports change later.
        "controller.quorum.voters": ",".join(
            f"{node}@{broker.host}:{port}" for node, port in broker.voters
        ),
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{broker.bootstrap},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{broker.bootstrap}",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(broker.data_dir),
        "num.partitions": str(PARTITIONS),
        "auto.create.topics.enable": "true",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_insync),
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_insync),
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_insync),
        "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": str(BROKER_MAX_MESSAGE_BYTES),
        "replica.fetch.max.bytes": str(BROKER_MAX_MESSAGE_BYTES),
    }
    broker.state_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by crossalert on every start."]
    lines += [f"{key}={value}" for key, value in properties.items()]
    broker.config_file.write_text("\n".join(lines) + "\n")
    return broker.config_file


def format_storage(broker: LocalBroker, cluster_id: str | None = None) -> bool:
    """Format the KRaft storage with `cluster_id` (else a new one) unless done before; True if
    it formatted."""
    if (broker.data_dir / "meta.properties").is_file():
        return False
    result = subprocess.run(
        [
            *_java_command(broker.root),
            _STORAGE_TOOL_MAIN,
            "format",
            "--cluster-id",
            cluster_id or _new_cluster_id(),
            "--config",
            str(broker.config_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LocalKafkaError(
            f"formatting the Kafka storage in {broker.data_dir} failed",
            detail=_last_lines(result.stdout + result.stderr),
        )
    log.info("kafka.storage.formatted", data_dir=str(broker.data_dir))
    return True


def start(broker: LocalBroker, *, timeout: float = START_TIMEOUT_S) -> BrokerStatus:
    """Start the broker detached and wait until it serves requests; a running one is kept.

    Blocking; from a coroutine call it through `asyncio.to_thread`.
    """
    with exclusive(broker.state_dir / "start.lock"):
        pid = _running_pid(broker)
        if pid is not None:
            log.info("kafka.already_running", bootstrap=broker.bootstrap, pid=pid)
        else:
            pid = _launch(broker)
        _wait_until_ready(broker, pid, timeout=timeout)
        state = status(broker)
    if not state.running:
        raise LocalKafkaError(
            f"the Kafka broker for {broker.bootstrap} exited right after start-up "
            f"(log: {broker.log_file})",
            detail=_last_lines(process.read_text(broker.log_file)),
        )
    return state


def stop(broker: LocalBroker, *, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the broker (SIGTERM, then SIGKILL after `timeout` s); False if it was not running."""
    with exclusive(broker.state_dir / "start.lock"):
        pid = _running_pid(broker)
        if pid is not None:
            log.info("kafka.stopping", bootstrap=broker.bootstrap, pid=pid)
            process.terminate(pid, timeout=timeout, marker=str(broker.config_file))
            log.info("kafka.stopped", bootstrap=broker.bootstrap, pid=pid)
        broker.pid_file.unlink(missing_ok=True)
    return pid is not None


def status(broker: LocalBroker) -> BrokerStatus:
    """Whether the broker runs, its pid, its bootstrap address and the Kafka version."""
    pid = _running_pid(broker)
    return BrokerStatus(
        running=pid is not None,
        pid=pid,
        bootstrap=broker.bootstrap,
        version=kafka_version(broker.root),
    )


def start_cluster(cluster: LocalCluster, *, timeout: float = START_TIMEOUT_S) -> list[BrokerStatus]:
    """Start every node of the cluster (the running ones are kept) and wait until all three
    serve as one cluster. A node alone cannot elect a controller: all are launched first."""
    with exclusive(cluster.state_dir / "start.lock"):
        pids = []
        for broker in cluster.brokers:
            with exclusive(broker.state_dir / "start.lock"):
                pids.append(_running_pid(broker) or _launch(broker))
        for broker, pid in zip(cluster.brokers, pids, strict=True):
            _wait_until_ready(broker, pid, timeout=timeout)
        deadline = time.monotonic() + timeout
        while asyncio.run(live_brokers(cluster.bootstrap)) < len(cluster.brokers):
            if time.monotonic() > deadline:
                raise LocalKafkaError(
                    f"the Kafka cluster {cluster.bootstrap} did not gather its "
                    f"{len(cluster.brokers)} nodes within {timeout:.0f} s"
                )
            time.sleep(0.25)
        return [status(broker) for broker in cluster.brokers]


LAST_NODE_STOP_TIMEOUT_S = 5.0


def stop_cluster(cluster: LocalCluster, *, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop every node of the cluster, one after the other; False if none was running.

    The last node cannot shut down cleanly (its controlled shutdown asks a controller quorum
    the others took with them): it gets a few seconds, then is killed, and recovers its log
    at the next start as after a crash."""
    *first, last = cluster.brokers
    stopped = [stop(broker, timeout=timeout) for broker in first]
    stopped.append(stop(last, timeout=min(timeout, LAST_NODE_STOP_TIMEOUT_S)))
    return any(stopped)


@contextmanager
def borrowed(broker: LocalBroker, *, fresh: bool = False) -> Iterator[BrokerStatus]:
    """Keep the broker running through the block; of concurrent borrowers, the last stops it.

    With `fresh`, a broker that this call has to start begins with empty storage.
    """

    def start_fresh() -> BrokerStatus:
        if fresh and not status(broker).running:
            shutil.rmtree(broker.state_dir, ignore_errors=True)
        return start(broker)

    leases = broker.state_dir.with_name(f"{broker.state_dir.name}.leases")
    with leased(leases, start_fresh, lambda: stop(broker)) as state:
        yield state


def _launch(broker: LocalBroker) -> int:
    for port in (broker.port, broker.controller_port):
        if process.accepts_connections(broker.host, port):
            raise LocalKafkaError(
                f"{broker.host}:{port} is already taken by another process "
                f"(not the broker of {broker.state_dir})"
            )
    write_config(broker)
    format_storage(broker, _cluster_id(broker))
    if broker.log_file.exists():
        broker.log_file.replace(broker.log_file.with_suffix(".log.1"))
    pid = process.spawn_detached(
        [*_java_command(broker.root), _BROKER_MAIN, str(broker.config_file)],
        log_file=broker.log_file,
        cwd=broker.state_dir,
    )
    broker.pid_file.write_text(f"{pid}\n")
    log.info("kafka.starting", bootstrap=broker.bootstrap, pid=pid, log_file=str(broker.log_file))
    return pid


def _wait_until_ready(broker: LocalBroker, pid: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    # A bare TCP probe first: aiokafka logs an error for every refused connection.
    while not (
        process.accepts_connections(broker.host, broker.port)
        and asyncio.run(_serves_requests(broker))
    ):
        if not process.is_alive(pid, marker=str(broker.config_file)):
            raise LocalKafkaError(
                f"the Kafka broker for {broker.bootstrap} exited during start-up "
                f"(log: {broker.log_file})",
                detail=_last_lines(process.read_text(broker.log_file)),
            )
        if time.monotonic() > deadline:
            # A broker that cannot come up in time is stopped, not left half-started.
            process.terminate(pid, timeout=STOP_TIMEOUT_S, marker=str(broker.config_file))
            broker.pid_file.unlink(missing_ok=True)
            raise LocalKafkaError(
                f"the Kafka broker for {broker.bootstrap} did not answer within "
                f"{timeout:.0f} s and was stopped (log: {broker.log_file})",
                detail=_last_lines(process.read_text(broker.log_file)),
            )
        time.sleep(0.25)
    log.info("kafka.ready", bootstrap=broker.bootstrap, pid=pid)


async def _serves_requests(broker: LocalBroker) -> bool:
    return await live_brokers(broker.bootstrap) > 0


async def live_brokers(bootstrap: str) -> int:
    """How many brokers the cluster at `bootstrap` reports alive; 0 if none answers."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except KafkaError:
        return 0
    finally:
        await admin.close()
    return len(cluster["brokers"])


def _running_pid(broker: LocalBroker) -> int | None:
    try:
        pid = int(broker.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    # The pid file may outlive its process and the pid be reused: check it is this broker.
    return pid if process.is_alive(pid, marker=str(broker.config_file)) else None


def _java_command(root: Path) -> list[str]:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).is_file():
        raise LocalKafkaError("Java 17 or newer is needed to run Kafka; run scripts/bootstrap.sh")
    return [
        java,
        *_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={_LOG4J2_CONFIG}",
        "-cp",
        str(ensure_jars(root) / "*"),
    ]


def _cluster_id(broker: LocalBroker) -> str | None:
    """The id its cluster's nodes share (kept beside them); None for a single node."""
    if not broker.quorum:
        return None
    kept = broker.state_dir.parent / "cluster.id"
    with exclusive(broker.state_dir.parent / "cluster-id.lock"):
        if not kept.is_file():
            kept.write_text(_new_cluster_id() + "\n")
        return kept.read_text().strip()


def _new_cluster_id() -> str:
    # Kafka's own form: 16 random bytes in URL-safe base64; one starting with "-" would be
    # read as a command-line option, so Kafka never issues it either.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _last_lines(text: str) -> str:
    # Java stack frames would crowd out the lines that say what went wrong.
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("at ")]
    return process.last_lines("\n".join(lines))
