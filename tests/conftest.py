"""Fixtures shared by the whole suite: a real Kafka broker for the tests that need one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.localnet import kafka

TEST_KAFKA_ENV = "CROSSALERT_TEST_KAFKA"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the broker `kafka`, so `-m "not kafka"` leaves them out."""
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker: $CROSSALERT_TEST_KAFKA, else the local test broker."""
    external = os.environ.get(TEST_KAFKA_ENV)
    if external:
        yield external
        return
    # Fresh: offsets committed by an earlier run would otherwise decide what a consumer group
    # sees. Borrowed: a session running beside this one keeps the broker until both are done.
    with kafka.borrowed(kafka.LocalBroker.for_tests(kafka.repo_root()), fresh=True) as state:
        yield state.bootstrap
