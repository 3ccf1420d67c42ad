"""What the estate reports about itself: log events, X-Ray traces, CloudWatch metrics and the page's alarm."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from datetime import timedelta
from typing import Any

from bot.sandbox.aws.cloudwatch import alarm_reason, metric_key
from bot.sandbox.aws.fillins import RdsEvent
from bot.sandbox.aws.logs_insights import LogRecord
from bot.sandbox.aws.materialise_state import Build
from bot.sandbox.aws.xray import MinuteStats, trace_documents
from bot.sandbox.world import LogLine, SeriesKey
from bot.sources.aws.catalog import (
    AlarmSpec,
    ServiceResources,
    SignalMetric,
    dependency_signals,
    instance_signals,
    signal_metric,
    signals_for,
)


# ---- logs ----------------------------------------------------------------------------------------------
def write_logs(b: Build) -> None:
    """Every log line into its service's first log group, in a stream per instance, task or hour."""
    streams: dict[tuple[str, str], list[tuple[int, str]]] = {}
    lambda_streams: dict[tuple[str, int], str] = {}
    for line in b.world.logs:
        spec = b.sc.service(line.service)
        groups = b.log_groups.get(spec.name)
        if not groups:
            continue
        ts = round(b.t(line.minute).timestamp() * 1000)
        stream = _stream_for(b, line, spec.kind, lambda_streams)
        text = f"{line.level} {line.message}"
        if line.stack:
            text += "\n" + line.stack.rstrip("\n")
        streams.setdefault((groups[0], stream), []).append((ts, text))
    logs = b.c("logs")
    for (group, stream), events in sorted(streams.items()):
        events.sort()
        existing = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]
        if not any(s["logStreamName"] == stream for s in existing):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        recs = b.records.setdefault(group, [])
        for i in range(0, len(events), 5000):
            batch = events[i : i + 5000]
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": t, "message": m} for t, m in batch],
            )
        for t, m in events:
            delay = 600 + b.rng.randrange(2400)
            b.ingestion[(group, stream, t)] = delay
            recs.append(LogRecord(group, stream, t, t + delay, m))


#: An RDS event as a scenario writes it in the database's log (`RDS-EVENT-0049 Multi-AZ instance failover ...`).
_RDS_EVENT = re.compile(r"^RDS-EVENT-\d{4}\s*[:-]?\s*(.+)$", re.DOTALL)
#: The category RDS files an event under, by what its message says (first match wins).
_RDS_CATEGORIES = (
    ("failover", "failover"),
    ("reboot", "availability"),
    ("restart", "availability"),
    ("shutdown", "availability"),
    ("maintenance", "maintenance"),
    ("storage", "low storage"),
    ("recover", "recovery"),
    ("fail", "failure"),
)


def write_rds_events(b: Build) -> None:
    """An RDS event a scenario writes in a database's log is also where AWS records it: `DescribeEvents`,
    once per message, at its first line."""
    seen: set[tuple[str, str]] = set()
    for line in b.world.logs:
        m = _RDS_EVENT.match(line.message)
        if b.sc.service(line.service).kind != "rds" or m is None or (line.service, line.message) in seen:
            continue
        seen.add((line.service, line.message))
        message = m.group(1).strip()
        category = next((c for word, c in _RDS_CATEGORIES if word in message.lower()), "notification")
        arn = f"arn:aws:rds:{b.region}:{b.account}:db:{line.service}"
        b.rds_events.events.append(
            RdsEvent(line.service, "db-instance", message, (category,), b.t(line.minute), arn)
        )


def _stream_for(b: Build, line: LogLine, kind: str, lambda_streams: dict[tuple[str, int], str]) -> str:
    """The stream a line goes to: its instance (asg), a random task (ecs), or the hour's stream (lambda)."""
    if kind == "asg":
        stream = b.instance_ids.get(line.instance or "", "")
        if not stream:
            fleet = [i for i in b.world.instances.get(line.service, []) if i.alive(math.floor(line.minute))]
            stream = b.instance_ids[fleet[0].name] if fleet else "unknown"
        return stream
    if kind == "ecs":
        tasks = b.ecs_tasks[line.service]
        return f"ecs/{line.service}/{tasks[b.rng.randrange(len(tasks))]}"
    hour = math.floor(line.minute / 60)
    key = (line.service, hour)
    if key not in lambda_streams:
        day = b.t(hour * 60).strftime("%Y/%m/%d")
        lambda_streams[key] = f"{day}/[$LATEST]{b.hexid(32)}"
    return lambda_streams[key]


# ---- traces --------------------------------------------------------------------------------------------
def _minute_stats(b: Build) -> None:
    model = b.xray.model
    for spec in b.sc.services:
        model.kinds[spec.name] = spec.kind
        model.calls[spec.name] = list(spec.calls)
        per: dict[int, MinuteStats] = {}
        last: dict[str, float] = {}

        def held(signal: str, minute: int, default: float) -> float:
            """The value, or the last one seen where a datapoint is missing (traces have no gaps)."""
            v = _v(b, spec.name, signal, minute)  # noqa: B023
            if v is None:
                return last.get(signal, default)  # noqa: B023
            last[signal] = v  # noqa: B023
            return v

        for m in b.world.minutes:
            if SeriesKey(spec.name, "requests_per_min") not in b.world.series:
                continue
            req = held("requests_per_min", m, 0.0)
            err = held("error_rate", m, 0.0)
            p50 = held("latency_p50_ms", m, 20.0)
            p99 = max(held("latency_p99_ms", m, p50 * 4), p50)
            thr = held("throttles_per_min", m, 0.0)
            per[_epoch_minute(b, m)] = MinuteStats(req, req * err, req * 0.001, thr, p50 / 1000, p99 / 1000)
        model.stats[spec.name] = per


def write_traces(b: Build, per_minute: int, minutes: int) -> None:
    """The service graph's per-minute statistics, and `per_minute` traces over the last `minutes`."""
    _minute_stats(b)
    if per_minute <= 0:
        return
    window = [_epoch_minute(b, m) for m in range(max(b.world.start, -minutes), 0)]
    docs = trace_documents(b.xray.model, window, per_minute, b.sc.effective_seed)
    xray = b.c("xray")
    for i in range(0, len(docs), 50):
        xray.put_trace_segments(TraceSegmentDocuments=docs[i : i + 50])


# ---- metrics -------------------------------------------------------------------------------------------
def _v(b: Build, service: str, signal: str, minute: int, instance: str | None = None) -> float | None:
    s = b.world.series.get(SeriesKey(service, signal, instance))
    return None if s is None else s[minute - b.world.start]


def _epoch_minute(b: Build, minute: int) -> int:
    return int(b.t(minute).timestamp()) // 60


def write_metrics(b: Build) -> None:
    """Every service's, instance's and dependency's catalog metrics, minute by minute."""
    for spec in b.sc.services:
        res = b.resources[spec.name]
        _write_signals(b, spec.name, signals_for(spec.kind), res, None)
        if spec.kind == "asg":
            for inst in b.world.instances.get(spec.name, []):
                ires = ServiceResources(service=spec.name, instance_id=b.instance_ids[inst.name], asg=res.asg)
                _write_signals(b, spec.name, instance_signals(spec.kind, b.org), ires, inst.name)
        callers = [s for s in b.sc.services if spec.name in s.calls]
        for caller in callers:
            dres = ServiceResources(service=caller.name, dependency=spec.name)
            _write_signals(b, spec.name, dependency_signals(b.org), dres, None, share=1 / len(callers))


def _write_signals(
    b: Build,
    service: str,
    signals: list[SignalMetric],
    res: ServiceResources,
    instance: str | None,
    share: float = 1.0,
) -> None:
    """Per minute, collect every metric's statistic hints from the signals, then store one StatSet each."""
    fleet = b.world.instances.get(service, [])
    for m in b.world.minutes:
        alive = max(1, sum(1 for i in fleet if i.alive(m))) if fleet else 1
        inst_obj = next((i for i in fleet if i.name == instance), None)
        if inst_obj is not None and not inst_obj.alive(m):
            continue
        requests = _v(b, service, "requests_per_min", m)
        if requests is not None:
            requests *= share / (alive if instance else 1)
        hints: dict[tuple[Any, ...], dict[str, float]] = {}
        units: dict[tuple[Any, ...], str] = {}
        for sm in signals:
            _hint(b, sm, res, _value(b, service, sm.signal, m, instance, requests), requests, hints, units)
        minute = _epoch_minute(b, m)
        for key, h in hints.items():
            _store(b, key, minute, h, units[key], requests)


def _hint(
    b: Build,
    sm: SignalMetric,
    res: ServiceResources,
    v: float | None,
    requests: float | None,
    hints: dict[tuple[Any, ...], dict[str, float]],
    units: dict[tuple[Any, ...], str],
) -> None:
    """Add one signal's value `v` as statistic hints on its metric (and its denominator's, for a ratio)."""
    bound = sm.bound(res)
    if v is None or bound is None:
        return
    sm = bound
    num = sm.numerator
    dims = num.dimension_values(res)
    if dims is None:
        return
    key = metric_key(num.namespace, num.metric, dims)
    if sm.denominator is None:
        hints.setdefault(key, {})[num.statistic] = sm.to_metric(v)
        units[key] = num.unit
        return
    if requests is None:
        return
    hints.setdefault(key, {})[num.statistic] = round(requests * v)
    units[key] = num.unit
    den = sm.denominator
    dkey = metric_key(den.namespace, den.metric, den.dimension_values(res))
    hints.setdefault(dkey, {})[den.statistic] = round(requests)
    units[dkey] = den.unit


def _value(
    b: Build, service: str, signal: str, minute: int, instance: str | None, requests: float | None
) -> float | None:
    """A signal's value for a service or one instance (the instance's own series where it has one)."""
    if instance is not None:
        v = _v(b, service, signal, minute, instance)
        if v is not None or SeriesKey(service, signal, instance) in b.world.series:
            return v
        if signal != "requests_per_min" and any(
            k.service == service and k.signal == signal and k.instance not in (None, instance)
            for k in b.world.series
        ):
            # The scenario names the instance this signal's movement belongs to: its siblings stay healthy,
            # at a level from the quiet start of the service's own history.
            quiet = b.world.start + (minute - b.world.start) % 30
            return _v(b, service, signal, quiet)
    if signal == "requests_per_min":
        return requests
    return _v(b, service, signal, minute)


def _store(b: Build, key: Any, minute: int, h: dict[str, float], unit: str, requests: float | None) -> None:
    """One minute's StatSet from the hints: percentiles, average and maximum, a count, or one value."""
    pct = {float(k[1:]) / 100: v for k, v in h.items() if k.startswith("p")}
    count = h.get("SampleCount") or (max(requests, 1.0) if requests else 1.0)
    if pct:
        p50 = pct.get(0.5, min(pct.values()))
        p99 = max(pct.get(0.99, p50 * 4), p50)
        lo, hi = p50 * 0.35, p99 * 1.35
        points = ((0.0, lo), (0.5, p50), (0.99, p99), (1.0, hi))
        mean = sum((q1 - q0) * (v0 + v1) / 2 for (q0, v0), (q1, v1) in itertools.pairwise(points))
        b.cw.put(
            key, minute, count=count, total=mean * count, minimum=lo, maximum=hi, points=points, unit=unit
        )
    elif "Average" in h and "Maximum" in h:
        avg, mx = h["Average"], max(h["Maximum"], h["Average"])
        b.cw.put(
            key,
            minute,
            count=60,
            total=avg * 60,
            minimum=avg * 0.35,
            maximum=mx,
            points=((0.0, avg * 0.35), (0.5, avg), (1.0, mx)),
            unit=unit,
        )
    elif "SampleCount" in h and len(h) == 1:
        b.cw.put(key, minute, count=count, total=0.0, minimum=0.0, maximum=0.0, unit=unit)
    else:
        v = next(iter(h.values()))
        b.cw.put(key, minute, value=v, unit=unit)


# ---- the alarm -----------------------------------------------------------------------------------------
def page_alarm(b: Build) -> None:
    """The page's alarm on the page signal: OK since the estate was built, ALARM at the page."""
    page = b.sc.page
    spec = b.sc.service(page.service)
    target = _alarm_target(b)
    series = [v for v in b.world.series.get(SeriesKey(spec.name, page.signal), []) if v is not None]
    if target is None or not series:
        return
    sm, res = target
    head = series[: max(5, len(series) // 3)]
    base = statistics.median(head)
    level = statistics.median(series[-3:])
    threshold = _nice(base + (level - base) * 0.5)
    params = AlarmSpec(
        name=page.name,
        signal=sm,
        resources=res,
        threshold=threshold,
        comparison="GreaterThanThreshold" if level >= base else "LessThanThreshold",
        description=f"{page.severity}: {page.signal} of {spec.name}",
        actions=(b.topic_arn,) if page.source == "cloudwatch" else (b.pd_topic,),
    ).put_kwargs()
    b.cw.put_alarm(params, at=b.built)
    b.cw.set_state(
        page.name,
        "OK",
        "Threshold Crossed: datapoints were not breaching the threshold.",
        at=b.built + timedelta(minutes=3),
    )
    recent = []
    for m in range(math.floor(page.at) - 3, math.floor(page.at)):
        v = _alarm_value(b, sm, res, m)
        if v is not None:
            recent.append((b.t(m), v))
    shown_threshold = sm.to_metric(threshold)
    reason, data = alarm_reason(page.signal, shown_threshold, recent, str(params["ComparisonOperator"]))
    b.cw.set_state(page.name, "ALARM", reason, data, at=b.t(page.at))
    b.alarm_arn = b.cw.alarms[page.name]["AlarmArn"]


def _alarm_target(b: Build) -> tuple[SignalMetric, ServiceResources] | None:
    """The page signal's metric and resources (an external service: its first caller's view of it)."""
    page = b.sc.page
    spec = b.sc.service(page.service)
    sm = signal_metric(spec.kind, page.signal)
    bound = sm.bound(b.resources[spec.name]) if sm is not None else None
    if bound is not None:
        return bound, b.resources[spec.name]
    callers = [s for s in b.sc.services if spec.name in s.calls]
    sm = next((d for d in dependency_signals(b.org) if d.signal == page.signal), None)
    if sm is None or not callers:
        return None
    return sm, ServiceResources(service=callers[0].name, dependency=spec.name)


def _alarm_value(b: Build, sm: SignalMetric, res: ServiceResources, minute: int) -> float | None:
    start = b.t(minute)
    end = start + timedelta(minutes=1)

    def one(ref: Any) -> float | None:
        key = metric_key(ref.namespace, ref.metric, ref.dimension_values(res))
        pts = b.cw.series(key, ref.statistic, start, end, 60)
        return pts[0][1] if pts else None

    num = one(sm.numerator)
    if sm.denominator is None:
        return num
    den = one(sm.denominator)
    if not den:
        return None
    return round((num or 0.0) / den, 4)


def _nice(v: float) -> float:
    if v == 0:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(v)))
    return round(v, max(digits, 0))
