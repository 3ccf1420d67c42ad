"""Telemetry, read-only: a service's signals from CloudWatch (through the metric catalog), its log lines
from CloudWatch Logs, the paging alarm and its history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import SignalKey
from bot.sources.aws.catalog import (
    ServiceResources,
    SignalMetric,
    dependency_signals,
    instance_signals,
    signals_for,
)
from bot.sources.aws.clients import AwsClients, classify
from bot.sources.result import ToolResult, guarded

#: Each signal, where it was observed -> (unix seconds, values), both sorted by time.
SeriesMap = dict[SignalKey, tuple[list[int], list[float]]]


@dataclass(frozen=True)
class LogRecord:
    """One log event."""

    time: int
    message: str
    stream: str
    group: str


@dataclass(frozen=True)
class AlarmInfo:
    """The paging alarm as CloudWatch describes it."""

    name: str
    state: str
    reason: str
    namespace: str | None
    metric: str | None
    dimensions: dict[str, str]
    updated: datetime | None
    threshold: float | None


class Telemetry:
    """Reads metrics, logs and alarms."""

    def __init__(self, clients: AwsClients) -> None:
        self._c = clients

    def signals(
        self,
        service: str,
        kind: str,
        res: ServiceResources,
        start: datetime,
        end: datetime,
        instances: dict[str, str] | None = None,
        org: str | None = None,
        callees: Sequence[str] = (),
    ) -> ToolResult[SeriesMap]:
        """Every catalogued signal of a service (and of each of its instances) at 1-minute resolution."""
        plan: list[tuple[SignalKey, SignalMetric, ServiceResources]] = [
            (SignalKey(service=service, signal=sm.signal), sm, res) for sm in signals_for(kind)
        ]
        if org:
            for name, iid in sorted((instances or {}).items()):
                ires = ServiceResources(service=service, instance_id=iid)
                plan += [
                    (SignalKey(service=service, signal=sm.signal, instance=name), sm, ires)
                    for sm in instance_signals(kind, org)
                ]
            for callee in callees:
                dres = ServiceResources(service=service, dependency=callee)
                plan += [
                    (SignalKey(service=callee, signal=sm.signal, seen_from=service), sm, dres)
                    for sm in dependency_signals(org)
                ]
        bound = [(key, b, r) for key, sm, r in plan if (b := sm.bound(r)) is not None]
        return guarded("cloudwatch:GetMetricData", lambda: self._fetch(bound, start, end), classify)

    def _fetch(
        self,
        plan: list[tuple[SignalKey, SignalMetric, ServiceResources]],
        start: datetime,
        end: datetime,
    ) -> SeriesMap:
        queries: list[dict[str, Any]] = []
        owners: list[tuple[SignalKey, SignalMetric, str]] = []
        for i, (key, sm, res) in enumerate(plan):
            prefix = f"s{i}"
            q = sm.queries(res, 60, prefix)
            if q:
                queries += q
                owners.append((key, sm, prefix))
        timestamps, values = self._metric_data(queries, start, end)
        out: SeriesMap = {}
        for key, sm, prefix in owners:
            points = sm.series(timestamps, values, prefix)
            if not points:
                continue
            ordered = sorted(
                (int(t.timestamp()) if isinstance(t, datetime) else int(str(t)), v) for t, v in points.items()
            )
            out[key] = ([t for t, _ in ordered], [v for _, v in ordered])
        return out

    def _metric_data(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> tuple[dict[str, list[object]], dict[str, list[float]]]:
        """GetMetricData for `queries` (500 a call, every page): timestamps and values by query id."""
        cw = self._c.get("cloudwatch")
        timestamps: dict[str, list[object]] = {}
        values: dict[str, list[float]] = {}
        for i in range(0, len(queries), 500):
            kwargs: dict[str, Any] = {
                "MetricDataQueries": queries[i : i + 500],
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            }
            while True:
                page = cw.get_metric_data(**kwargs)
                for r in page.get("MetricDataResults", []):
                    timestamps.setdefault(r["Id"], []).extend(r.get("Timestamps", []))
                    values.setdefault(r["Id"], []).extend(r.get("Values", []))
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return timestamps, values

    def _described_alarm(self, name: str) -> dict[str, Any] | None:
        alarms = self._c.get("cloudwatch").describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
        return alarms[0] if alarms else None

    def alarm_series(
        self, name: str, start: datetime, end: datetime
    ) -> ToolResult[tuple[float | None, list[tuple[datetime, float]]]]:
        """What alarm `name` watches, over [start, end]: its threshold and the points of its own metric (or
        metric math), at the alarm's period and statistic -- the line CloudWatch draws on the alarm's graph."""

        def fetch() -> tuple[float | None, list[tuple[datetime, float]]] | None:
            a = self._described_alarm(name)
            if a is None:
                return None
            queries: list[dict[str, Any]] = [dict(m) for m in a.get("Metrics") or []]
            if not queries and a.get("MetricName"):
                stat = a.get("ExtendedStatistic") or a.get("Statistic") or "Average"
                metric = {"Namespace": a["Namespace"], "MetricName": a["MetricName"]}
                metric["Dimensions"] = a.get("Dimensions", [])
                queries = [
                    {
                        "Id": "alarm",
                        "MetricStat": {"Metric": metric, "Period": int(a.get("Period") or 60), "Stat": stat},
                        "ReturnData": True,
                    }
                ]
            if not queries:
                return None
            timestamps, values = self._metric_data(queries, start, end)
            points: list[tuple[datetime, float]] = []
            for qid, times in timestamps.items():
                points += [
                    (t, v)
                    for t, v in zip(times, values.get(qid, []), strict=False)
                    if isinstance(t, datetime)
                ]
            return a.get("Threshold"), sorted(points)

        return guarded("cloudwatch:GetMetricData", fetch, classify)  # type: ignore[arg-type]

    def metric_series(
        self, namespace: str, metric: str, dimensions: dict[str, str], start: datetime, end: datetime
    ) -> ToolResult[list[tuple[datetime, float]]]:
        """One metric by its namespace, name and dimensions over [start, end] (one-minute averages): what a
        page names when its alarm cannot be read."""

        def fetch() -> list[tuple[datetime, float]]:
            dims = [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]
            query = {"Namespace": namespace, "MetricName": metric, "Dimensions": dims}
            queries = [{"Id": "m", "MetricStat": {"Metric": query, "Period": 60, "Stat": "Average"}}]
            timestamps, values = self._metric_data(queries, start, end)
            pairs = zip(timestamps.get("m", []), values.get("m", []), strict=False)
            return sorted((t, v) for t, v in pairs if isinstance(t, datetime))

        return guarded("cloudwatch:GetMetricData", fetch, classify)

    def log_lines(
        self,
        group: str,
        start: datetime,
        end: datetime,
        terms: Sequence[str] = ("ERROR", "WARN", "FATAL"),
        limit: int = 3000,
    ) -> ToolResult[list[LogRecord]]:
        """Lines of a log group in [start, end] that contain any of `terms`, up to `limit` per term."""
        return guarded(
            f"logs:FilterLogEvents:{group}", lambda: self._lines(group, start, end, terms, limit), classify
        )

    def _lines(
        self, group: str, start: datetime, end: datetime, terms: Sequence[str], limit: int
    ) -> list[LogRecord]:
        logs = self._c.get("logs")
        out: dict[tuple[int, str, str], LogRecord] = {}
        for term in terms:
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "startTime": int(start.timestamp() * 1000),
                "endTime": int(end.timestamp() * 1000),
                "filterPattern": term,
            }
            got = 0
            while got < limit:
                page = logs.filter_log_events(**kwargs)
                for ev in page.get("events", []):
                    rec = LogRecord(
                        int(ev["timestamp"] // 1000), ev["message"], ev.get("logStreamName", ""), group
                    )
                    out[(rec.time, rec.stream, rec.message)] = rec
                    got += 1
                token = page.get("nextToken")
                if not token or not page.get("events"):
                    break
                kwargs["nextToken"] = token
        return sorted(out.values(), key=lambda r: (r.time, r.stream, r.message))

    def rds_events(self, db_instance: str, start: datetime, end: datetime) -> ToolResult[list[LogRecord]]:
        """What RDS itself recorded of a DB instance in [start, end] (`DescribeEvents`): failovers, reboots,
        maintenance, failures, as records whose message names the event's categories."""

        def fetch() -> list[LogRecord]:
            rds = self._c.get("rds")
            kwargs: dict[str, Any] = {
                "SourceType": "db-instance",
                "SourceIdentifier": db_instance,
                "StartTime": start,
                "EndTime": end,
            }
            out: list[LogRecord] = []
            while True:
                page = rds.describe_events(**kwargs)
                for ev in page.get("Events", []):
                    cats = ", ".join(ev.get("EventCategories") or []) or "notification"
                    when = int(ev["Date"].timestamp())
                    out.append(
                        LogRecord(when, f"RDS event ({cats}): {ev.get('Message', '')}", db_instance, "rds")
                    )
                if not page.get("Marker"):
                    return sorted(out, key=lambda r: (r.time, r.message))
                kwargs["Marker"] = page["Marker"]

        return guarded(f"rds:DescribeEvents:{db_instance}", fetch, classify)

    def alarm(self, name: str) -> ToolResult[AlarmInfo]:
        """The alarm called `name`, with its metric and dimensions."""

        def fetch() -> AlarmInfo | None:
            a = self._described_alarm(name)
            if a is None:
                return None
            dims = {d["Name"]: d["Value"] for d in a.get("Dimensions", [])}
            namespace, metric = a.get("Namespace"), a.get("MetricName")
            for m in a.get("Metrics", []) or []:
                stat = m.get("MetricStat")
                if stat:
                    namespace = namespace or stat["Metric"].get("Namespace")
                    metric = metric or stat["Metric"].get("MetricName")
                    dims.update({d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])})
            return AlarmInfo(
                name=a["AlarmName"],
                state=a.get("StateValue", ""),
                reason=a.get("StateReason", ""),
                namespace=namespace,
                metric=metric,
                dimensions=dims,
                updated=a.get("StateUpdatedTimestamp"),
                threshold=a.get("Threshold"),
            )

        return guarded("cloudwatch:DescribeAlarms", fetch, classify)  # type: ignore[arg-type]
