"""Topology discovery against the simulated estate: services, kinds, resources, edges; the cache."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario
from bot.sources.aws.topology import TopologyReader


def test_discovers_services_edges_and_caches_a_copy(shared_dir: Path) -> None:
    sc = load_scenario(shared_dir / "scenarios" / "forge-cache-serialization.yaml")
    with sandbox(sc) as box:
        reader = TopologyReader(box.deps().aws)
        since, until = box.world.time(-180), box.world.time(0)
        first = reader.cached(since, until)
        kinds = {n: i.kind for n, i in first.services.items()}
        assert kinds == {
            "gateway": "ecs",
            "bot": "ecs",
            "scheduler": "ecs",
            "action": "lambda",
            "forge": "asg",
            "bot-config": "dynamodb",
        }
        assert {("gateway", "bot"), ("bot", "forge"), ("forge", "bot-config")} <= first.edges
        forge = first.services["forge"]
        assert forge.res().asg == "forge-asg" and forge.res().target_group and forge.res().load_balancer
        assert set(forge.instances) >= {"i-forge-1", "i-forge-2", "i-forge-3", "i-forge-4"}
        assert first.topology().get("gateway") is not None
        calls = sum(box.aws.gateway.calls.values())
        first.services["forge"].repo = "changed/by-caller"
        second = reader.cached(since, until)
        assert sum(box.aws.gateway.calls.values()) == calls  # served from the cache: no AWS call
        assert second.services["forge"].repo != "changed/by-caller"  # and a copy, not the caller's object
