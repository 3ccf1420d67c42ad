"""The optional `actor` of a change (who made it): validated, backward compatible, and what CloudTrail says."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.scenario import ScenarioError, parse_scenario


def _scenario(change: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "scenario/1",
        "id": "actor-check",
        "title": "t",
        "services": [{"name": "api", "kind": "ecs"}],
        "events": [
            {"at": -5, "id": "c", "change": {"service": "api", "via": "scaling", "desired": 1, **change}}
        ],
        "page": {"source": "pagerduty", "service": "api", "signal": "error_rate", "name": "p"},
        "truth": {
            "root_cause_service": "api",
            "category": "manual-change",
            "change": "c",
            "mitigation": "scale-out",
        },
    }


@pytest.mark.parametrize(
    "actor",
    [
        {"kind": "person", "name": "k.okafor"},
        {"kind": "pipeline", "name": "deploy-bot", "role": "ci-deploy"},
        {"kind": "aws-service", "name": "autoscaling.amazonaws.com"},
    ],
)
def test_an_actor_is_optional_and_typed(actor: dict[str, Any]) -> None:
    sc = parse_scenario(_scenario({"actor": actor}))
    got = sc.events[0].change
    assert got is not None and got.actor is not None and got.actor.kind == actor["kind"]
    assert parse_scenario(_scenario({})).events[0].change.actor is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("actor", "words"),
    [
        ({"kind": "robot", "name": "x"}, "events[0].change.actor.kind"),
        ({"kind": "person"}, "events[0].change.actor.name: required key is missing"),
        ({"kind": "person", "name": "x", "team": "y"}, "events[0].change.actor.team: unknown key"),
        ({"kind": "pipeline", "name": "x", "role": "not a role"}, "events[0].change.actor.role"),
    ],
)
def test_a_bad_actor_names_its_key(actor: dict[str, Any], words: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_scenario({"actor": actor}), "a.yaml")
    assert str(err.value).startswith("a.yaml: ") and words in str(err.value)
