"""A stack update written freely (a sentence, a console-style listing, a template diff) shows in AWS as the
change set it describes: the properties it names change through their own APIs, and an image that moves ships
that image. Read back through boto3 and the engine's change reader against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.scenario import parse_scenario
from bot.sandbox.world import World, simulate
from tests.fixtures_estate import T0, Estates

pytest.importorskip("moto")

from bot.sandbox.aws import AwsEstate

SENTENCE = (
    "Stack feed-prod: ReservedConcurrentExecutions on FeedFunction lowered from 100 to 10 (quota clean-up)"
)
LISTING = """web-prod stack update (pipeline web-release #812)
  WebTaskDefinition  AWS::ECS::TaskDefinition  Modify  Replacement: True
    ContainerDefinitions[0].Image:
      123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v3.17.2 -> 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v3.18.0
"""
DIFF = """Stack lookup-prod updated by pipeline run "parameterize-region"
  LookupFunction (AWS::Lambda::Function), Replacement: False
    Environment.Variables:
-     TABLE_REGION: eu-west-1
+     TABLE_REGION: !Ref TableRegion      # resolved: us-west-2
      TABLE_NAME: lookups                 # unchanged
"""
TAGS = """Stack feed-prod UPDATE_COMPLETE (FinOps tagging): Team=payments -> Team=platform
  FeedFunction (AWS::Lambda::Function), no property changes
"""
SCENARIO: dict[str, Any] = {
    "format": "scenario/1",
    "id": "free-text-stacks",
    "title": "stack updates written freely",
    "history_minutes": 90,
    "account": {"region": "eu-west-1", "account_id": "123456789012", "org": "fts"},
    "services": [
        {"name": "web", "kind": "ecs", "deploy": "cloudformation", "calls": ["feed", "lookup"]},
        {"name": "feed", "kind": "lambda", "deploy": "cloudformation"},
        {"name": "lookup", "kind": "lambda", "deploy": "cloudformation"},
    ],
    "events": [
        {
            "at": -50,
            "id": "cap",
            "change": {"service": "feed", "via": "cloudformation", "stack_change": SENTENCE},
        },
        {
            "at": -40,
            "id": "rel",
            "change": {"service": "web", "via": "cloudformation", "stack_change": LISTING},
        },
        {
            "at": -30,
            "id": "env",
            "change": {"service": "lookup", "via": "cloudformation", "stack_change": DIFF},
        },
        {
            "at": -20,
            "id": "tags",
            "change": {"service": "feed", "via": "cloudformation", "stack_change": TAGS},
        },
    ],
    "page": {"source": "pagerduty", "service": "web", "signal": "error_rate", "name": "web errors"},
    "truth": {
        "root_cause_service": "feed",
        "category": "config-change",
        "change": "cap",
        "mitigation": "revert-config",
    },
}


@pytest.fixture(scope="module")
def world() -> World:
    return simulate(parse_scenario(SCENARIO, "<free-text-stacks>"), T0)


@pytest.fixture
def est(estates: Estates, world: World) -> AwsEstate:
    got = estates.get(world)
    assert isinstance(got, AwsEstate)
    return got


def _details(est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from bot.sources.aws.changes import AwsChanges
    from bot.sources.aws.clients import AwsClients

    for key, value in est.env().items():
        monkeypatch.setenv(key, value)
    reader = AwsChanges(AwsClients(est.region, max_attempts=1, endpoint_url=est.endpoint_url))
    found = reader.cloudtrail(world.time(-90), world.time(0)).data or []
    executed = [reader.detail(c).data for c in found if c.action == "ExecuteChangeSet"]
    return {f"{c.request.get('stackName')}@{c.at:%H:%M}": c for c in executed if c is not None}


def _one(details: dict[str, Any], stack: str, world: World, at: int) -> Any:
    key = f"{stack}@{world.time(at):%H:%M}"
    assert key in details, sorted(details)
    return details[key]


def test_a_sentence_naming_a_property_changes_that_property(
    est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        est.client("lambda").get_function_concurrency(FunctionName="feed")["ReservedConcurrentExecutions"]
        == 10
    )
    cap = _one(_details(est, world, monkeypatch), "feed", world, -50)
    assert any("ReservedConcurrentExecutions 100 → 10" in line for line in cap.changed)
    assert cap.ships_code is False


def test_a_listed_image_that_moves_ships_that_image(
    est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = est.client("ecs")
    svc = ecs.describe_services(cluster="fts-prod", services=["web"])["services"][0]
    current = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    assert current["containerDefinitions"][0]["image"].endswith(":v3.18.0")
    assert _one(_details(est, world, monkeypatch), "web", world, -40).ships_code is True


def test_a_template_diff_changes_the_variable_to_its_resolved_value(
    est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = est.client("lambda").get_function_configuration(FunctionName="lookup")
    assert config["Environment"]["Variables"].get("TABLE_REGION") == "us-west-2"
    env = _one(_details(est, world, monkeypatch), "lookup", world, -30)
    assert any("TABLE_REGION" in line and "us-west-2" in line for line in env.changed)
    assert env.ships_code is False


def test_a_listed_resource_with_no_property_in_an_update_about_tags_had_its_tags_changed(
    est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.analysis.changes import serves_nothing

    tags = _one(_details(est, world, monkeypatch), "feed", world, -20)
    assert tags.changed == ("AWS::Lambda::Function FeedFunction Tags",)
    assert serves_nothing(tags) and not tags.ships_code
    assert (
        est.client("lambda").get_function_concurrency(FunctionName="feed")["ReservedConcurrentExecutions"]
        == 10
    )


GAPPED = """format: scenario/1
id: stack-events-without-cloudtrail
title: a stack update found from the stack's own events while CloudTrail cannot be read
history_minutes: 120
gaps: [cloudtrail]
services:
  - {name: web, kind: ecs, calls: [feed], repo: acme/web}
  - {name: feed, kind: lambda, deploy: cloudformation, baseline: {requests_per_min: 800}}
events:
  - id: cap
    at: -30
    change:
      service: feed
      via: cloudformation
      stack_change: "quota clean-up: ReservedConcurrentExecutions on FeedFunction lowered from 100 to 5"
  - at: -28
    effect: {service: feed, throttles_per_min: 600}
  - at: -28
    effect: {service: web, error_rate: 0.3}
  - at: -28
    logs: {service: web, level: ERROR, rate_per_min: 40, message: "feed invoke failed: TooManyRequestsException: Rate Exceeded"}
page: {source: pagerduty, service: web, signal: error_rate, name: web errors}
truth:
  root_cause_service: feed
  category: config-change
  change: cap
  mitigation: revert-config
  evidence: [ReservedConcurrentExecutions]
"""


@pytest.mark.slow
def test_with_cloudtrail_unreadable_a_stack_update_is_read_from_the_stacks_own_events(tmp_path: Path) -> None:
    from bot.sandbox.evaluate import evaluate_paths

    path = tmp_path / "stack-events-without-cloudtrail.yaml"
    path.write_text(GAPPED)
    [row] = evaluate_paths([path])["scenarios"]
    assert row["change_ok"] and row["category_ok"] and row["gaps_ok"], row
