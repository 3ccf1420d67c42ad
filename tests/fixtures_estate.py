"""Fixtures: the simulated AWS estate.

moto keeps its state in process-wide backends, so a process holds one materialised estate at a time: every
materialisation resets the one session-wide moto server first. ``estates.get(world)`` hands back the estate
already seeded from an identical world, or materialises a new one (stopping the previous gateway).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.sandbox.scenario import Scenario, load_scenario
from bot.sandbox.world import World, simulate

#: The page time every estate test uses (fixed, so runs compare byte for byte).
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SCENARIOS = Path(__file__).resolve().parents[2] / "shared" / "scenarios"


def public_scenarios() -> list[Path]:
    """The public scenario files (empty where ../shared is absent)."""
    return sorted(SCENARIOS.glob("*.yaml")) if SCENARIOS.is_dir() else []


class Estates:
    """One live estate at a time over a shared moto server."""

    def __init__(self, moto: object) -> None:
        self.moto = moto
        self.current: object | None = None
        self.key: str | None = None

    def get(self, world: World, **kwargs: object) -> object:
        from bot.sandbox.aws import AwsEstate, materialise_aws

        key = f"{world.scenario.model_dump_json()}|{world.t0.isoformat()}|{sorted(kwargs.items())}"
        if self.current is not None and self.key == key:
            return self.current
        self.release()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estate = materialise_aws(world, moto=self.moto, **kwargs)  # type: ignore[arg-type]
        assert isinstance(estate, AwsEstate)
        self.current, self.key = estate, key
        return estate

    def release(self) -> None:
        if self.current is not None:
            self.current.stop()  # type: ignore[attr-defined]
        self.current, self.key = None, None


@pytest.fixture(scope="session")
def moto_server() -> Iterator[object]:
    """A ThreadedMotoServer on 127.0.0.1 for the whole session (reset by each materialisation)."""
    pytest.importorskip("moto")
    from bot.sandbox.aws import MotoServer

    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def estates(moto_server: object) -> Iterator[Estates]:
    """Materialise worlds on the shared moto server, reusing the live estate when the world is the same."""
    holder = Estates(moto_server)
    yield holder
    holder.release()


@pytest.fixture(scope="module", params=[p.stem for p in public_scenarios()] or ["<none>"])
def public_scenario(request: pytest.FixtureRequest) -> Scenario:
    """Each public scenario in ../shared/scenarios (module-scoped so tests group by scenario)."""
    if request.param == "<none>":
        pytest.skip(f"no public scenarios at {SCENARIOS} (../shared is not beside this checkout)")
    return load_scenario(SCENARIOS / f"{request.param}.yaml")


@pytest.fixture
def public_world(public_scenario: Scenario) -> World:
    """The scenario simulated at T0."""
    return simulate(public_scenario, T0)
