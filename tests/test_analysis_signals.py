"""Signal assessment: onsets of real departures, ramp starts, blips, recovery, instances without history."""

from __future__ import annotations

import random

from bot.analysis.signals import assess_all, assess_signal
from bot.domain import SignalKey

PAGE = 10_000 * 60
START = PAGE - 180 * 60


def K(service: str, signal: str, instance: str | None = None) -> SignalKey:
    return SignalKey(service=service, signal=signal, instance=instance)


def series(levels: list[float], jitter: float = 0.03, seed: int = 1) -> tuple[list[int], list[float]]:
    rng = random.Random(seed)
    times = [START + 60 * i for i in range(len(levels))]
    return times, [v * (1 + rng.gauss(0, jitter)) for v in levels]


def minute(t: int | None) -> int | None:
    return None if t is None else (t - PAGE) // 60


def test_a_step_has_its_onset_at_the_step() -> None:
    t, v = series([0.002] * 170 + [0.4] * 11)
    s = assess_all({K("forge", "error_rate"): (t, v)}, PAGE, START)[0]
    assert minute(s.onset) == -10 and minute(s.start) == -10
    assert s.sustained and not s.ramp


def test_a_lone_blip_is_not_an_onset_and_a_recovered_departure_is_not_sustained() -> None:
    levels = [200.0] * 181
    levels[100] = 3000.0
    t, v = series(levels)
    assert assess_all({K("web", "latency_p99_ms"): (t, v)}, PAGE, START)[0].onset is None
    levels = [200.0] * 150 + [3000.0] * 10 + [200.0] * 21
    t, v = series(levels)
    s = assess_all({K("web", "latency_p99_ms"): (t, v)}, PAGE, START)[0]
    assert minute(s.onset) == -30 and not s.sustained


def test_a_leak_is_a_ramp_whose_start_is_extrapolated_back() -> None:
    levels = [45.0] * 60 + [45.0 + 0.2 * i for i in range(240)] + [97.0] * 61
    times = [PAGE - 360 * 60 + 60 * i for i in range(len(levels))]
    rng = random.Random(3)
    values = [x * (1 + rng.gauss(0, 0.02)) for x in levels]
    s = assess_signal(K("payments", "memory_pct"), times, values, PAGE, PAGE - 270 * 60)
    assert s is not None and s.ramp
    assert s.start is not None and -315 <= minute(s.start) <= -280  # type: ignore[operator]


def test_small_moves_on_tiny_levels_are_not_news() -> None:
    t, v = series([0.001] * 170 + [0.003] * 11, jitter=0.0)
    assert assess_all({K("api", "error_rate"): (t, v)}, PAGE, START)[0].onset is None


def test_a_new_instance_is_judged_against_its_siblings() -> None:
    t, v = series([30.0] * 181)
    t_new = t[-11:]
    v_new = [95.0] * 5 + [31.0] * 6
    states = assess_all(
        {
            K("forge", "cpu_pct", instance="i-1"): (t, v),
            K("forge", "cpu_pct", instance="i-new-1"): (t_new, v_new),
        },
        PAGE,
        START,
    )
    fresh = next(s for s in states if s.instance == "i-new-1")
    assert minute(fresh.onset) == -10 and not fresh.sustained


def test_jitter_just_above_a_two_level_baseline_is_not_where_a_step_began() -> None:
    # A low-rate error series alternates between two levels, so its median absolute deviation is tiny and
    # any reading on the upper level scores high; the departure still starts at the step, not in the jitter.
    rng = random.Random(7)
    levels = [(0.0019, 0.0019, 0.0027, 0.0019, 0.0027)[i % 5] * rng.uniform(0.95, 1.05) for i in range(170)]
    levels[-8:] = [0.0027, 0.0028, 0.0035, 0.0027, 0.0027, 0.0026, 0.0028, 0.0027]
    t, v = series([*levels, 0.04, 0.09, *[0.13] * 9], jitter=0.0)
    s = assess_all({K("listings", "error_rate"): (t, v)}, PAGE, START)[0]
    assert minute(s.onset) == -10 and minute(s.start) == -10, (minute(s.onset), minute(s.start))
