"""docker-compose.yml agrees with the code: services, ports and variables.

No Docker engine runs here, so this reads the compose file as data and checks each service's
environment against the settings class that will read it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.cli import SERVICE_SETTINGS
from services.common.kafka import replication_for
from services.localnet import kafka

ROOT = Path(__file__).parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
CLUSTER_OVERRIDE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """What `docker compose -f base -f override` reads: maps merged key by key, the rest
    replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            result[key] = merged(base[key], value)
        else:
            result[key] = value
    return result


def compose_service_of(service: str) -> dict[str, Any]:
    [found] = [s for s in SERVICES.values() if s.get("command") == ["serve", service]]
    return found


def compose_name_of(service: str) -> str:
    [name] = [n for n, s in SERVICES.items() if s.get("command") == ["serve", service]]
    return name


def environment(service: str) -> dict[str, str]:
    """The service's variables, with ${VAR...} interpolations replaced by a stand-in."""
    env = compose_service_of(service)["environment"]
    return {key: re.sub(r"\$\{[^}]*\}", "secret", str(value)) for key, value in env.items()}


def settings_of(service: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in environment(service).items():
        monkeypatch.setenv(key, value)
    return SERVICE_SETTINGS[service]()


def published_ports(compose_service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).split(":")[-1]) for mapping in compose_service.get("ports", [])}


def kafka_client_port() -> int:
    listeners = SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    return int(urlsplit(listeners).port or 0)


def test_every_service_of_the_code_is_deployed_from_the_dockerfile() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["crossalert"]' in dockerfile
    for service in SERVICE_SETTINGS:
        assert compose_service_of(service)["build"] == "."


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_every_variable_names_a_setting_of_its_service(service: str) -> None:
    settings_class = SERVICE_SETTINGS[service]
    prefix = settings_class.model_config["env_prefix"]

    for key in environment(service):
        assert key.startswith(prefix), f"{key} is not read by {settings_class.__name__}"
        field = key.removeprefix(prefix).lower()
        assert field in settings_class.model_fields, f"{key}: no setting {field}"


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_settings_read_from_compose_are_valid_and_reachable(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(service, monkeypatch)
    compose_service = compose_service_of(service)

    assert settings.http_host == "0.0.0.0"
    assert settings.http_port in published_ports(compose_service)
    assert f":{settings.http_port}/healthz" in " ".join(compose_service["healthcheck"]["test"])
    host, port = settings.kafka_bootstrap_servers.split(":")
    assert host == "kafka" and int(port) == kafka_client_port()
    assert "kafka" in compose_service["depends_on"]


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_urls_between_services_point_at_deployed_ports(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(service, monkeypatch)
    compose_service = compose_service_of(service)

    if hasattr(settings, "registry_url"):
        url = urlsplit(settings.registry_url)
        assert url.hostname == compose_name_of("registry")
        assert url.port == settings_of("registry", monkeypatch).http_port
        assert url.hostname in compose_service["depends_on"]
    if hasattr(settings, "database_url"):
        url = urlsplit(settings.database_url)
        assert url.scheme == "postgresql+asyncpg"
        assert url.hostname == "postgres" and url.port == 5432
        assert "postgres" in compose_service["depends_on"]
        created = {SERVICES["postgres"]["environment"]["POSTGRES_DB"]}
        created |= set(
            re.findall(
                r"CREATE DATABASE (\w+)", (ROOT / "deploy" / "postgres-init.sql").read_text()
            )
        )
        assert url.path.lstrip("/") in created
    if hasattr(settings, "smtp_host"):
        assert settings.smtp_host in SERVICES
        assert settings.smtp_host in compose_service["depends_on"]


def test_kafka_image_is_the_version_the_tests_run() -> None:
    pom = (ROOT / "kafka" / "pom.xml").read_text()
    [version] = re.findall(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{version}"


def test_the_registry_signing_key_lives_on_a_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of("registry", monkeypatch)
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose_service_of("registry")["volumes"]}

    key_folder = str(settings.signing_key_file.parent)
    assert key_folder in mounts
    assert mounts[key_folder] in COMPOSE["volumes"]
    assert f"-d -o crossalert -m 0700 {key_folder}" in (ROOT / "Dockerfile").read_text()


def test_the_registry_believes_forwarded_addresses_of_the_notifier_only() -> None:
    trusted = environment("registry")["CROSSALERT_REGISTRY_TRUSTED_PROXIES"]
    notifier = compose_service_of("notifier")["networks"]["default"]["ipv4_address"]
    [subnet] = COMPOSE["networks"]["default"]["ipam"]["config"]

    assert trusted == notifier
    assert ipaddress.ip_address(notifier) in ipaddress.ip_network(subnet["subnet"])


@pytest.mark.parametrize("service", ["alert_gateway", "notifier", "evaluator", "feed_ingest"])
def test_each_service_asking_the_registry_has_a_client_of_its_own(service: str) -> None:
    env = environment(service)
    prefix = SERVICE_SETTINGS[service].model_config["env_prefix"]

    assert env[f"{prefix}REGISTRY_CLIENT_ID"].startswith("svc-")
    assert env[f"{prefix}REGISTRY_CLIENT_SECRET"] == "secret"  # given at deployment


def test_the_cluster_file_makes_three_kafka_nodes_replicating_every_topic_three_times() -> None:
    cluster = merged(COMPOSE, CLUSTER_OVERRIDE)
    nodes = {
        name: service["environment"]
        for name, service in cluster["services"].items()
        if str(service.get("image", "")).startswith("apache/kafka:")
    }
    voters = {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in nodes.items()}

    assert len(nodes) == kafka.CLUSTER_SIZE
    assert {cluster["services"][name]["image"] for name in nodes} == {SERVICES["kafka"]["image"]}
    replicas, min_insync = replication_for(len(nodes))
    for name, env in nodes.items():
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        for setting in ("DEFAULT", "OFFSETS_TOPIC", "TRANSACTION_STATE_LOG"):
            assert env[f"KAFKA_{setting}_REPLICATION_FACTOR"] == str(replicas), (name, setting)
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == str(min_insync)
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == str(min_insync)
    data = [cluster["services"][name]["volumes"][0].split(":")[0] for name in nodes]
    assert len(set(data)) == len(nodes) and set(data) <= set(cluster["volumes"])


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_on_the_cluster_every_service_bootstraps_from_every_node(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = merged(COMPOSE, CLUSTER_OVERRIDE)
    compose_service = cluster["services"][compose_name_of(service)]
    for key, value in compose_service["environment"].items():
        monkeypatch.setenv(key, re.sub(r"\$\{[^}]*\}", "secret", str(value)))

    settings = SERVICE_SETTINGS[service]()
    nodes = ["kafka", "kafka-2", "kafka-3"]

    assert settings.kafka_bootstrap_servers.split(",") == [f"{node}:9092" for node in nodes]
    assert set(nodes) <= set(compose_service["depends_on"])
