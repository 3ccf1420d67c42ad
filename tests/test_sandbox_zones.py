"""An instance runs in the zone its own log lines name, and Auto Scaling balances the rest of its group over
the other zones: read back through EC2 against the sandbox."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bot.sandbox.scenario import parse_scenario
from bot.sandbox.world import World, simulate
from tests.fixtures_estate import T0, Estates

pytest.importorskip("moto")

from bot.sandbox.aws import AwsEstate

SCENARIO: dict[str, Any] = {
    "format": "scenario/1",
    "id": "zones-as-told",
    "title": "two instances said to be in one zone",
    "history_minutes": 60,
    "account": {"region": "us-east-1", "account_id": "123456789012", "org": "zon"},
    "services": [{"name": "stock", "kind": "asg", "instances": 6}],
    "events": [
        {
            "at": -10,
            "logs": {
                "service": "stock",
                "instance": f"i-stock-{n}",
                "level": "ERROR",
                "rate_per_min": 5,
                "message": f"connect to db timed out [host=ip-10-0-37-11{n} az=us-east-1c]",
            },
        }
        for n in (2, 5)
    ],
    "page": {"source": "pagerduty", "service": "stock", "signal": "error_rate", "name": "stock errors"},
    "truth": {"root_cause_service": "stock", "category": "infrastructure-failure", "mitigation": "failover"},
}


@pytest.fixture(scope="module")
def world() -> World:
    return simulate(parse_scenario(SCENARIO, "<zones>"), T0)


def test_an_instance_runs_in_the_zone_its_logs_name_and_the_group_stays_balanced(
    estates: Estates, world: World
) -> None:
    est = estates.get(world)
    assert isinstance(est, AwsEstate)
    ec2 = est.client("ec2")
    zone_of: dict[str, str] = {}
    for r in ec2.describe_instances()["Reservations"]:
        for i in r["Instances"]:
            name = next(t["Value"] for t in i.get("Tags", []) if t["Key"] == "Name")
            zone_of[name] = i["Placement"]["AvailabilityZone"]
    assert zone_of["i-stock-2"] == zone_of["i-stock-5"] == "us-east-1c"
    others = Counter(z for n, z in zone_of.items() if n not in ("i-stock-2", "i-stock-5"))
    assert others == Counter({"us-east-1a": 2, "us-east-1b": 2})
