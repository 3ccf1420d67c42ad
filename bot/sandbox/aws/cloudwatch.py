"""A CloudWatch stand-in: an indexed metric store and alarms, spoken to over smithy-rpc-v2-cbor.

moto's CloudWatch scans every datapoint per call, crashes on statistic sets and percentiles and has no alarm
history, so this one stores per-minute *statistic sets* keyed by metric, answers GetMetricData /
GetMetricStatistics with real statistics (Sum, Average, Minimum, Maximum, SampleCount, pNN) and keeps
alarm history. A minute's distribution is kept as quantile points (min, p50, p99, max), so p50 and p99
differ as they do in AWS; a period of several minutes takes the quantile of the mixture.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sandbox.aws.protocol import Reply, Request, cbor_reply, error_reply, iso, json_reply

MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, name, sorted dimensions


@dataclass
class Component:
    """Samples of one put: ``count`` samples distributed by piecewise-linear quantile points."""

    count: float
    points: tuple[tuple[float, float], ...]  # (quantile 0..1, value), quantile ascending, first 0 and last 1

    def cdf(self, x: float) -> float:
        pts = self.points
        if x < pts[0][1]:
            return 0.0
        if x >= pts[-1][1]:
            return 1.0
        for (q0, v0), (q1, v1) in itertools.pairwise(pts):
            if v0 <= x < v1:
                return q0 + (q1 - q0) * (x - v0) / (v1 - v0)
        return 1.0


@dataclass
class StatSet:
    """What one minute of one metric holds."""

    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    parts: list[Component] = field(default_factory=list)

    def add(
        self,
        count: float,
        total: float,
        minimum: float,
        maximum: float,
        points: tuple[tuple[float, float], ...],
    ) -> None:
        self.count += count
        self.total += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        self.parts.append(Component(count, points))


def percentile(sets: list[StatSet], q: float) -> float:
    """The q-quantile (0..1) of the mixture of every component in `sets`."""
    parts = [p for s in sets for p in s.parts if p.count > 0]
    if not parts:
        return math.nan
    lo = min(s.minimum for s in sets)
    hi = max(s.maximum for s in sets)
    if lo == hi:
        return lo
    total = sum(p.count for p in parts)
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(p.count * p.cdf(mid) for p in parts) / total >= q:
            hi = mid
        else:
            lo = mid
    return hi


def statistic(sets: list[StatSet], stat: str) -> float | None:
    """One statistic over the minutes of a period (None when there is no data)."""
    sets = [s for s in sets if s.count > 0]
    if not sets:
        return None
    if stat == "Sum":
        return sum(s.total for s in sets)
    if stat == "SampleCount":
        return sum(s.count for s in sets)
    if stat == "Average":
        return sum(s.total for s in sets) / sum(s.count for s in sets)
    if stat == "Minimum":
        return min(s.minimum for s in sets)
    if stat == "Maximum":
        return max(s.maximum for s in sets)
    if stat.startswith("p"):
        return percentile(sets, float(stat[1:]) / 100)
    raise ValueError(stat)


def valid_stat(stat: str) -> bool:
    """Whether the stand-in computes this statistic."""
    if stat in ("Sum", "SampleCount", "Average", "Minimum", "Maximum"):
        return True
    if stat.startswith("p"):
        try:
            return 0 <= float(stat[1:]) <= 100
        except ValueError:
            return False
    return False


def metric_key(namespace: str, name: str, dims: list[dict[str, str]] | None) -> MetricKey:
    """The store's key of a metric."""
    return namespace, name, tuple(sorted((d["Name"], d["Value"]) for d in dims or []))


def _minute(ts: datetime) -> int:
    return int(ts.timestamp()) // 60


def _dt(minute_or_seconds: float) -> datetime:
    return datetime.fromtimestamp(minute_or_seconds, UTC)


class CloudWatchStore:
    """Metrics (minute -> StatSet per metric), units, alarms and their history."""

    def __init__(self, account_id: str, region: str, clock: Callable[[], datetime] | None = None) -> None:
        self.account_id = account_id
        self.region = region
        self.clock = clock or (lambda: datetime.now(UTC))
        self.data: dict[MetricKey, dict[int, StatSet]] = {}
        self.units: dict[MetricKey, str] = {}
        self.alarms: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    # ---- writing -------------------------------------------------------------------------------------
    def put(
        self,
        key: MetricKey,
        minute: int,
        *,
        value: float | None = None,
        count: float = 1.0,
        total: float | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        points: tuple[tuple[float, float], ...] | None = None,
        unit: str | None = None,
    ) -> None:
        """Add samples at an epoch minute: one value, or a statistic set with optional quantile points."""
        if value is not None:
            total, minimum, maximum = value * count, value, value
        assert total is not None and minimum is not None and maximum is not None
        if points is None:
            points = ((0.0, minimum), (1.0, maximum))
        with self.lock:
            self.data.setdefault(key, {}).setdefault(minute, StatSet()).add(
                count, total, minimum, maximum, points
            )
            if unit and key not in self.units:
                self.units[key] = unit

    def put_alarm(self, params: dict[str, Any], at: datetime | None = None) -> None:
        """Create or update a metric alarm (``PutMetricAlarm`` parameters)."""
        at = at or self.clock()
        name = params["AlarmName"]
        with self.lock:
            old = self.alarms.get(name)
            alarm = {
                "AlarmName": name,
                "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{name}",
                "AlarmDescription": params.get("AlarmDescription"),
                "AlarmConfigurationUpdatedTimestamp": at,
                "ActionsEnabled": params.get("ActionsEnabled", True),
                "OKActions": params.get("OKActions", []),
                "AlarmActions": params.get("AlarmActions", []),
                "InsufficientDataActions": params.get("InsufficientDataActions", []),
                "StateValue": old["StateValue"] if old else "INSUFFICIENT_DATA",
                "StateReason": old["StateReason"] if old else "Unchecked: Initial alarm creation",
                "StateUpdatedTimestamp": old["StateUpdatedTimestamp"] if old else at,
                "StateTransitionedTimestamp": old["StateTransitionedTimestamp"] if old else at,
                "MetricName": params.get("MetricName"),
                "Namespace": params.get("Namespace"),
                "Statistic": params.get("Statistic"),
                "ExtendedStatistic": params.get("ExtendedStatistic"),
                "Dimensions": params.get("Dimensions", []),
                "Period": params.get("Period"),
                "Unit": params.get("Unit"),
                "EvaluationPeriods": params["EvaluationPeriods"],
                "DatapointsToAlarm": params.get("DatapointsToAlarm"),
                "Threshold": float(params["Threshold"]) if "Threshold" in params else None,
                "ComparisonOperator": params["ComparisonOperator"],
                "TreatMissingData": params.get("TreatMissingData", "missing"),
                "Metrics": params.get("Metrics"),
            }
            if old and old.get("StateReasonData"):
                alarm["StateReasonData"] = old["StateReasonData"]
            self.alarms[name] = alarm
            self.history.append(
                {
                    "AlarmName": name,
                    "AlarmType": "MetricAlarm",
                    "Timestamp": at,
                    "HistoryItemType": "ConfigurationUpdate",
                    "HistorySummary": f'Alarm "{name}" {"updated" if old else "created"}',
                    "HistoryData": json.dumps(
                        {
                            "version": "1.0",
                            "type": "Update" if old else "Create",
                            "createdAlarm" if not old else "updatedAlarm": _alarm_history_view(alarm),
                        },
                        default=str,
                    ),
                }
            )

    def set_state(
        self, name: str, value: str, reason: str, reason_data: str | None = None, at: datetime | None = None
    ) -> None:
        """Move an alarm to a state, recording the StateUpdate history item."""
        at = at or self.clock()
        with self.lock:
            alarm = self.alarms[name]
            old_value, old_reason = alarm["StateValue"], alarm["StateReason"]
            alarm.update(StateValue=value, StateReason=reason, StateUpdatedTimestamp=at)
            if reason_data is not None:
                alarm["StateReasonData"] = reason_data
            if old_value != value:
                alarm["StateTransitionedTimestamp"] = at
            new_state: dict[str, Any] = {"stateValue": value, "stateReason": reason}
            if reason_data is not None:
                new_state["stateReasonData"] = json.loads(reason_data)
            self.history.append(
                {
                    "AlarmName": name,
                    "AlarmType": "MetricAlarm",
                    "Timestamp": at,
                    "HistoryItemType": "StateUpdate",
                    "HistorySummary": f"Alarm updated from {old_value} to {value}",
                    "HistoryData": json.dumps(
                        {
                            "version": "1.0",
                            "oldState": {"stateValue": old_value, "stateReason": old_reason},
                            "newState": new_state,
                        }
                    ),
                }
            )

    # ---- reading -------------------------------------------------------------------------------------
    def series(
        self, key: MetricKey, stat: str, start: datetime, end: datetime, period: int
    ) -> list[tuple[int, float]]:
        """(epoch seconds of period start, value) ascending, for periods that have data."""
        points = self.data.get(key)
        if not points:
            return []
        first = (int(start.timestamp()) // period) * period
        minutes = sorted(points)
        lo = bisect.bisect_left(minutes, first // 60)
        hi = bisect.bisect_left(minutes, math.ceil(end.timestamp() / 60))
        buckets: dict[int, list[StatSet]] = {}
        for m in minutes[lo:hi]:
            b = first + ((m * 60 - first) // period) * period
            buckets.setdefault(b, []).append(points[m])
        out: list[tuple[int, float]] = []
        for b in sorted(buckets):
            v = statistic(buckets[b], stat)
            if v is not None and not math.isnan(v):
                out.append((b, v))
        return out

    def keys_matching(
        self, namespace: str | None, name: str | None, dims: list[dict[str, Any]] | None
    ) -> list[MetricKey]:
        """Metrics matching ListMetrics filters (a dimension filter without Value matches any value)."""
        out = []
        for key in self.data:
            ns, mn, kd = key
            if namespace and ns != namespace:
                continue
            if name and mn != name:
                continue
            have = dict(kd)
            if any(
                d["Name"] not in have or ("Value" in d and have[d["Name"]] != d["Value"]) for d in dims or []
            ):
                continue
            out.append(key)
        return sorted(out)


def _alarm_history_view(alarm: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "AlarmName",
        "Namespace",
        "MetricName",
        "Threshold",
        "ComparisonOperator",
        "EvaluationPeriods",
        "Period",
    )
    return {k[0].lower() + k[1:]: alarm[k] for k in keep if alarm.get(k) is not None}


class MathError(ValueError):
    """A metric-math expression the stand-in cannot evaluate."""


def evaluate(expr: str, env: dict[str, dict[int, float]]) -> dict[int, float]:
    """Arithmetic metric math (``+ - * /``, numbers, query ids) over timestamp-aligned series."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise MathError(f"Invalid metrics math expression: {expr}") from exc

    def ev(node: ast.AST) -> dict[int, float] | float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in env:
                raise MathError(f"Unknown metric id in expression: {node.id}")
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = ev(node.operand)
            return -v if isinstance(v, float) else {t: -x for t, x in v.items()}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            return _binop(node.op, ev(node.left), ev(node.right))
        raise MathError(f"Unsupported metrics math expression: {expr}")

    result = ev(tree)
    if isinstance(result, float):
        raise MathError(f"Expression returns a constant: {expr}")
    return result


def _binop(op: ast.operator, a: dict[int, float] | float, b: dict[int, float] | float) -> dict[int, float]:
    def f(x: float, y: float) -> float | None:
        if isinstance(op, ast.Add):
            return x + y
        if isinstance(op, ast.Sub):
            return x - y
        if isinstance(op, ast.Mult):
            return x * y
        return x / y if y else None

    if isinstance(a, float) and isinstance(b, float):
        raise MathError("constant expression")
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) & set(b))
    else:
        keys = sorted(a) if isinstance(a, dict) else sorted(b) if isinstance(b, dict) else []
    out: dict[int, float] = {}
    for t in keys:
        x = a[t] if isinstance(a, dict) else a
        y = b[t] if isinstance(b, dict) else b
        v = f(x, y)
        if v is not None:
            out[t] = v
    return out


class CloudWatchService:
    """The rpc-v2-cbor operations over a :class:`CloudWatchStore`."""

    def __init__(self, store: CloudWatchStore) -> None:
        self.store = store

    def handle(self, req: Request) -> Reply:
        """Answer in the request's protocol: rpc-v2-cbor, or json 1.0 (which botocore 1.44 prefers)."""
        if req.protocol not in ("cbor", "json"):
            return error_reply(
                req, "InvalidAction", "the sandbox's CloudWatch speaks rpc-v2-cbor and json 1.0 only"
            )
        op = getattr(self, f"op_{req.operation}", None)
        if op is None:
            return error_reply(
                req, "InvalidAction", f"The action {req.operation} is not valid for this endpoint."
            )
        try:
            out = op(req.params())
            if req.protocol == "json":
                return json_reply(out, content_type="application/x-amz-json-1.0")
            return cbor_reply(out)
        except (KeyError, ValueError, TypeError) as exc:
            return error_reply(req, "InvalidParameterValueException", f"The parameters are not valid: {exc}")

    # ---- metrics -------------------------------------------------------------------------------------
    def op_GetMetricData(self, p: dict[str, Any]) -> dict[str, Any]:
        start, end = _time(p["StartTime"]), _time(p["EndTime"])
        descending = p.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results: dict[str, dict[int, float]] = {}
        labels: dict[str, str] = {}
        queries = p.get("MetricDataQueries", [])
        for q in queries:
            ms = q.get("MetricStat")
            if ms is None:
                continue
            m = ms["Metric"]
            stat = ms["Stat"]
            if not valid_stat(stat):
                raise ValueError(
                    f"The value {stat} for parameter MetricDataQueries.member.Stat is not valid."
                )
            period = int(ms["Period"])
            if period % 60:
                raise ValueError("The parameter Period must be a multiple of 60.")
            key = metric_key(m["Namespace"], m["MetricName"], m.get("Dimensions"))
            results[q["Id"]] = dict(self.store.series(key, stat, start, end, period))
            labels[q["Id"]] = q.get("Label") or m["MetricName"]
        for q in queries:
            if "Expression" in q:
                results[q["Id"]] = evaluate(q["Expression"], results)
                labels[q["Id"]] = q.get("Label") or q["Id"]
        out = []
        for q in queries:
            if not q.get("ReturnData", True):
                continue
            series = results[q["Id"]]
            ts = sorted(series, reverse=descending)
            out.append(
                {
                    "Id": q["Id"],
                    "Label": labels[q["Id"]],
                    "Timestamps": [_dt(t) for t in ts],
                    "Values": [float(series[t]) for t in ts],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": out, "Messages": []}

    def op_GetMetricStatistics(self, p: dict[str, Any]) -> dict[str, Any]:
        key = metric_key(p["Namespace"], p["MetricName"], p.get("Dimensions"))
        start, end, period = _time(p["StartTime"]), _time(p["EndTime"]), int(p["Period"])
        stats = list(p.get("Statistics", []))
        ext = list(p.get("ExtendedStatistics", []))
        rows: dict[int, dict[str, Any]] = {}
        unit = self.store.units.get(key, "None")
        for stat in stats + ext:
            if not valid_stat(stat):
                raise ValueError(f"The value {stat} for parameter Statistics is not valid.")
            for t, v in self.store.series(key, stat, start, end, period):
                row = rows.setdefault(t, {"Timestamp": _dt(t), "Unit": unit})
                if stat in ext:
                    row.setdefault("ExtendedStatistics", {})[stat] = float(v)
                else:
                    row[stat] = float(v)
        return {"Label": p["MetricName"], "Datapoints": [rows[t] for t in sorted(rows)]}

    def op_ListMetrics(self, p: dict[str, Any]) -> dict[str, Any]:
        keys = self.store.keys_matching(p.get("Namespace"), p.get("MetricName"), p.get("Dimensions"))
        offset = int(p.get("NextToken") or 0)
        page = keys[offset : offset + 500]
        out: dict[str, Any] = {
            "Metrics": [
                {"Namespace": ns, "MetricName": mn, "Dimensions": [{"Name": n, "Value": v} for n, v in dims]}
                for ns, mn, dims in page
            ]
        }
        if offset + 500 < len(keys):
            out["NextToken"] = str(offset + 500)
        return out

    def op_PutMetricData(self, p: dict[str, Any]) -> dict[str, Any]:
        ns = p["Namespace"]
        for d in p.get("MetricData", []):
            key = metric_key(ns, d["MetricName"], d.get("Dimensions"))
            ts = _time(d["Timestamp"]) if d.get("Timestamp") else self.store.clock()
            minute, unit = _minute(ts), d.get("Unit")
            if "StatisticValues" in d:
                sv = d["StatisticValues"]
                self.store.put(
                    key,
                    minute,
                    count=sv["SampleCount"],
                    total=sv["Sum"],
                    minimum=sv["Minimum"],
                    maximum=sv["Maximum"],
                    unit=unit,
                )
            elif "Values" in d:
                counts = d.get("Counts") or [1.0] * len(d["Values"])
                for v, c in zip(d["Values"], counts, strict=False):
                    self.store.put(key, minute, value=float(v), count=float(c), unit=unit)
            else:
                self.store.put(key, minute, value=float(d["Value"]), unit=unit)
        return {}

    # ---- alarms --------------------------------------------------------------------------------------
    def op_PutMetricAlarm(self, p: dict[str, Any]) -> dict[str, Any]:
        self.store.put_alarm(p)
        return {}

    def op_SetAlarmState(self, p: dict[str, Any]) -> dict[str, Any]:
        if p["AlarmName"] not in self.store.alarms:
            raise KeyError(f"Alarm {p['AlarmName']} not found")
        self.store.set_state(p["AlarmName"], p["StateValue"], p["StateReason"], p.get("StateReasonData"))
        return {}

    def op_DescribeAlarms(self, p: dict[str, Any]) -> dict[str, Any]:
        alarms = sorted(self.store.alarms.values(), key=lambda a: a["AlarmName"])
        if p.get("AlarmNames"):
            alarms = [a for a in alarms if a["AlarmName"] in p["AlarmNames"]]
        if p.get("AlarmNamePrefix"):
            alarms = [a for a in alarms if a["AlarmName"].startswith(p["AlarmNamePrefix"])]
        if p.get("StateValue"):
            alarms = [a for a in alarms if a["StateValue"] == p["StateValue"]]
        if p.get("ActionPrefix"):
            alarms = [a for a in alarms if any(x.startswith(p["ActionPrefix"]) for x in a["AlarmActions"])]
        types = p.get("AlarmTypes") or ["MetricAlarm"]
        return {"MetricAlarms": alarms if "MetricAlarm" in types else [], "CompositeAlarms": []}

    def op_DescribeAlarmsForMetric(self, p: dict[str, Any]) -> dict[str, Any]:
        want = metric_key(p["Namespace"], p["MetricName"], p.get("Dimensions"))
        out = []
        for a in sorted(self.store.alarms.values(), key=lambda a: a["AlarmName"]):
            members = [(a["Namespace"], a["MetricName"], a["Dimensions"])] if a.get("MetricName") else []
            members += [
                (
                    m["MetricStat"]["Metric"]["Namespace"],
                    m["MetricStat"]["Metric"]["MetricName"],
                    m["MetricStat"]["Metric"].get("Dimensions"),
                )
                for m in a.get("Metrics") or []
                if "MetricStat" in m
            ]
            if any(metric_key(ns, mn, dims) == want for ns, mn, dims in members):
                out.append(a)
        return {"MetricAlarms": out}

    def op_DescribeAlarmHistory(self, p: dict[str, Any]) -> dict[str, Any]:
        items = list(self.store.history)
        if p.get("AlarmName"):
            items = [i for i in items if i["AlarmName"] == p["AlarmName"]]
        if p.get("HistoryItemType"):
            items = [i for i in items if i["HistoryItemType"] == p["HistoryItemType"]]
        if p.get("StartDate"):
            items = [i for i in items if i["Timestamp"] >= _time(p["StartDate"])]
        if p.get("EndDate"):
            items = [i for i in items if i["Timestamp"] <= _time(p["EndDate"])]
        items.sort(
            key=lambda i: i["Timestamp"],
            reverse=p.get("ScanBy", "TimestampDescending") == "TimestampDescending",
        )
        offset = int(p.get("NextToken") or 0)
        size = int(p.get("MaxRecords") or 100)
        out: dict[str, Any] = {"AlarmHistoryItems": items[offset : offset + size]}
        if offset + size < len(items):
            out["NextToken"] = str(offset + size)
        return out


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def alarm_reason(
    signal: str, threshold: float, values: list[tuple[datetime, float]], op: str
) -> tuple[str, str]:
    """StateReason and StateReasonData as CloudWatch writes them for a threshold crossing."""
    shown = ", ".join(f"{v:g} ({t.strftime('%d/%m/%y %H:%M:%S')})" for t, v in values)
    words = {"GreaterThanThreshold": "greater than", "LessThanThreshold": "less than"}.get(op, op)
    reason = (
        f"Threshold Crossed: {len(values)} out of the last {len(values)} datapoints [{shown}] "
        f"{'were' if len(values) > 1 else 'was'} {words} the threshold ({threshold:g}) "
        f"(minimum {len(values)} datapoints for OK -> ALARM transition)."
    )
    data = {
        "version": "1.0",
        "queryDate": iso(values[-1][0] + timedelta(seconds=50)) if values else None,
        "startDate": iso(values[0][0]) if values else None,
        "period": 60,
        "recentDatapoints": [v for _, v in values],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": iso(t), "sampleCount": 1.0, "value": v} for t, v in reversed(values)
        ],
    }
    return reason, json.dumps(data)
