"""The engine reads what each change changed from the sandbox as it would from AWS: a stack update's change
set, a function's configuration call, a scale-in, a task-size cut, a parameter group edit; a change set that
cannot be read is a gap."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.scenario import parse_scenario
from bot.sandbox.world import World, simulate
from tests.fixtures_estate import T0, Estates
from tests.test_aws_fidelity import FIDELITY

pytest.importorskip("moto")

from bot.sandbox.aws import AwsEstate


@pytest.fixture(scope="module")
def world() -> World:
    return simulate(parse_scenario(FIDELITY, "<fidelity>"), T0)


@pytest.fixture
def est(estates: Estates, world: World) -> AwsEstate:
    got = estates.get(world)
    assert isinstance(got, AwsEstate)
    return got


def _changes(est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from bot.sources.aws.changes import AwsChanges
    from bot.sources.aws.clients import AwsClients

    for key, value in est.env().items():
        monkeypatch.setenv(key, value)
    reader = AwsChanges(AwsClients(est.region, max_attempts=1, endpoint_url=est.endpoint_url))
    found = reader.cloudtrail(world.time(-90), world.time(0)).data or []
    return [reader.detail(c) for c in found]


def test_the_engine_reads_what_each_change_changed(
    est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _changes(est, world, monkeypatch)
    assert all(r.ok for r in results)
    changes = [r.data for r in results]
    actions = [c.action for c in changes]
    assert "CreateChangeSet" not in actions, "a change set is a proposal; its execution is the change"
    assert not any(c.actor and c.actor.name == "cloudformation.amazonaws.com" for c in changes)
    stack = next(c for c in changes if c.action == "ExecuteChangeSet" and "resize" in str(c.request))
    assert stack.changed == (
        "AWS::Lambda::Function ResizeFunction ReservedConcurrentExecutions 200 → 20",
        "AWS::Lambda::Function ResizeFunction Timeout 30 → 10",
    )
    assert stack.ships_code is False and "cap concurrency" in stack.summary
    release = next(c for c in changes if c.action == "ExecuteChangeSet" and "workers" in str(c.request))
    assert release.ships_code is True
    memory = next(c for c in changes if c.action == "UpdateFunctionConfiguration")
    assert memory.changed == ("resize environment changed", "resize memorySize → 512")
    assert memory.ships_code is False
    code = next(c for c in changes if c.action == "ExecuteChangeSet" and "thumbs" in str(c.request))
    assert code.ships_code is True and "AWS::Lambda::Function" in code.changed[0]
    scale = next(c for c in changes if c.action == "UpdateService" and "desiredCount" in c.request)
    assert scale.changed == ("api desiredCount → 2",) and scale.ships_code is False
    task = next(c for c in changes if c.action == "UpdateService" and "taskDefinition" in c.request)
    assert any("memory 2048 → 1024" in line for line in task.changed) and task.ships_code is False
    pg = next(c for c in changes if c.action == "ModifyDBParameterGroup")
    assert pg.changed == ("orders-pg16 max_connections → 200",) and pg.ships_code is False


def test_a_change_set_that_cannot_be_read_is_a_gap(
    estates: Estates, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    est = estates.get(world, gaps=["cloudformation"])
    assert isinstance(est, AwsEstate)
    results = _changes(est, world, monkeypatch)
    failed = [r for r in results if not r.ok]
    assert failed and {r.source for r in failed} == {"cloudformation:DescribeChangeSet"}
    gap = failed[0].gap()
    assert gap is not None and "denied" in gap.reason
