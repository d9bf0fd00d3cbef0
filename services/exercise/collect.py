"""What happened to a run's messages: the notifier's delivery report of each, read as its sender.

The notifier keeps every delivery of every message (channel, times, acknowledgement,
escalations) and answers the sender of a message about it; the after-action report is made of
these answers, so its figures are the ones the network itself recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from pydantic import TypeAdapter

from schemas.deliveries import DeliveryReport
from schemas.exercise import ExerciseReport, PublishedReport, RunRecord
from schemas.identity import Scope
from services.common.registry_client import RegistryClient
from services.exercise.runner import TIMEOUT_SECONDS, Client, Endpoints, registry_client


async def delivery_reports(
    record: RunRecord, credentials: Mapping[str, Client], endpoints: Endpoints
) -> dict[str, DeliveryReport]:
    """CAP identifier -> the notifier's delivery report, for every message of the run it knows."""
    found: dict[str, DeliveryReport] = {}
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
        readers: dict[str, RegistryClient] = {}
        for sent in record.injects:
            if sent.identifier is None or sent.cap_sender is None or sent.status_code >= 300:
                continue
            client = credentials.get(sent.sender)
            if client is None:
                continue  # no way to ask as its sender: the report says nobody was reached
            reader = readers.setdefault(sent.sender, registry_client(endpoints, client, http))
            answer = await http.get(
                f"{endpoints.notifier_url}/v1/alerts/{sent.cap_sender}/{sent.identifier}/deliveries",
                headers={"Authorization": f"Bearer {await reader.token(Scope.ALERTS_READ)}"},
            )
            if answer.status_code == 200:
                found[sent.identifier] = DeliveryReport.model_validate_json(answer.content)
            elif answer.status_code != 404:
                answer.raise_for_status()
    return found


async def publish_report(
    report: ExerciseReport, planner: Client, endpoints: Endpoints
) -> PublishedReport:
    """Hand the report to the notifier, for the participating organisations' officers."""
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
        registry = registry_client(endpoints, planner, http)
        answer = await http.post(
            f"{endpoints.notifier_url}/v1/exercise-reports",
            content=report.model_dump_json(),
            headers={
                "Authorization": f"Bearer {await registry.token(Scope.EXERCISES_PLAN)}",
                "Content-Type": "application/json",
            },
        )
        answer.raise_for_status()
        return PublishedReport.model_validate_json(answer.content)


async def raised_reports(
    record: RunRecord, planner: Client, endpoints: Endpoints
) -> list[DeliveryReport]:
    """The alerts the threshold evaluator raised from the run's observations, with their
    deliveries: the notifier answers the planner (exercises:plan) for a run's every message."""
    sent = {inject.identifier for inject in record.injects if inject.identifier}
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
        registry = registry_client(endpoints, planner, http)
        answer = await http.get(
            f"{endpoints.notifier_url}/v1/exercise-runs/{record.run_id}/deliveries",
            headers={"Authorization": f"Bearer {await registry.token(Scope.EXERCISES_PLAN)}"},
        )
        answer.raise_for_status()
    reports = TypeAdapter(list[DeliveryReport]).validate_json(answer.content)
    return [report for report in reports if report.alert.identifier not in sent]
