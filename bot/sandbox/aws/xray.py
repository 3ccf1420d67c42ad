"""X-Ray: ``GetServiceGraph`` from the world's series (moto answers an empty graph), and trace segments.

The graph has a ``client`` node calling every service nobody else calls, one node per service and one edge per
``calls`` entry; each node's and edge's summary statistics are summed over the asked window from the callee's
per-minute requests, error rate and latency. Sample traces along the call edges (faults where the error rate
says so) are put into moto with ``PutTraceSegments`` so GetTraceSummaries / BatchGetTraces work.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.aws.protocol import Reply, Request, json_reply

#: X-Ray node type per service kind.
NODE_TYPE = {
    "ecs": "AWS::ECS::Container",
    "asg": "AWS::EC2::Instance",
    "lambda": "AWS::Lambda::Function",
    "dynamodb": "AWS::DynamoDB::Table",
    "rds": "Database::SQL",
    "sqs": "AWS::SQS::Queue",
    "external": "remote",
}


@dataclass
class MinuteStats:
    """One service's traffic in one minute, as traced."""

    requests: float
    faults: float
    errors: float
    throttles: float
    p50_s: float
    p99_s: float


@dataclass
class GraphModel:
    """Services, edges and per-minute stats (epoch minute -> stats) per service."""

    account_id: str
    kinds: dict[str, str]
    calls: dict[str, list[str]]
    stats: dict[str, dict[int, MinuteStats]] = field(default_factory=dict)


def _summary(rows: list[MinuteStats]) -> dict[str, Any]:
    total = sum(r.requests for r in rows)
    faults = sum(r.faults for r in rows)
    errors = sum(r.errors for r in rows)
    throttles = sum(r.throttles for r in rows)
    mean = sum(r.requests * (0.6 * r.p50_s + 0.4 * min(r.p99_s, 4 * r.p50_s + r.p99_s / 10)) for r in rows)
    return {
        "OkCount": round(max(total - faults - errors, 0)),
        "ErrorStatistics": {
            "ThrottleCount": round(throttles),
            "OtherCount": round(errors),
            "TotalCount": round(errors + throttles),
        },
        "FaultStatistics": {"OtherCount": round(faults), "TotalCount": round(faults)},
        "TotalCount": round(total),
        "TotalResponseTime": round(mean, 3),
    }


def _histogram(rows: list[MinuteStats]) -> list[dict[str, float]]:
    hist: dict[float, float] = {}
    for r in rows:
        for value, share in ((r.p50_s, 0.5), (round((r.p50_s + r.p99_s) / 2, 3), 0.49), (r.p99_s, 0.01)):
            hist[round(value, 3)] = hist.get(round(value, 3), 0) + r.requests * share
    return [{"Value": v, "Count": round(c)} for v, c in sorted(hist.items()) if round(c) > 0]


class XRayService:
    """GetServiceGraph over a :class:`GraphModel`; other X-Ray operations go to moto."""

    def __init__(self, model: GraphModel) -> None:
        self.model = model

    def handle(self, req: Request) -> Reply | None:
        if req.operation != "GetServiceGraph":
            return None
        p = req.params()
        start, end = float(p["StartTime"]), float(p["EndTime"])
        return json_reply(self.graph(start, end))

    def graph(self, start: float, end: float) -> dict[str, Any]:
        m = self.model
        lo, hi = int(start) // 60, int(end) // 60
        names = sorted(m.kinds)
        ref = {name: i + 1 for i, name in enumerate(names)}
        called = {c for callees in m.calls.values() for c in callees}
        t0, t1 = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)

        def rows(svc: str) -> list[MinuteStats]:
            return [s for minute, s in sorted(m.stats.get(svc, {}).items()) if lo <= minute < hi]

        def edge(callee: str) -> dict[str, Any]:
            r = rows(callee)
            return {
                "ReferenceId": ref[callee],
                "StartTime": t0,
                "EndTime": t1,
                "SummaryStatistics": _summary(r),
                "ResponseTimeHistogram": _histogram(r),
                "Aliases": [],
            }

        roots = [n for n in names if n not in called]
        services: list[dict[str, Any]] = [
            {
                "ReferenceId": 0,
                "Name": "client",
                "Names": ["client"],
                "Root": True,
                "Type": "client",
                "State": "unknown",
                "StartTime": t0,
                "EndTime": t1,
                "Edges": [edge(n) for n in roots],
                "SummaryStatistics": {},
                "DurationHistogram": [],
                "ResponseTimeHistogram": [],
            }
        ]
        for name in names:
            r = rows(name)
            kind = m.kinds[name]
            node: dict[str, Any] = {
                "ReferenceId": ref[name],
                "Name": name,
                "Names": [name],
                "Root": name in roots,
                "Type": NODE_TYPE.get(kind, "remote"),
                "State": "active",
                "StartTime": t0,
                "EndTime": t1,
                "Edges": [edge(c) for c in sorted(m.calls.get(name, []))],
                "SummaryStatistics": _summary(r),
                "DurationHistogram": _histogram(r),
                "ResponseTimeHistogram": _histogram(r),
            }
            if kind != "external":
                node["AccountId"] = m.account_id
            services.append(node)
        return {"StartTime": t0, "EndTime": t1, "Services": services, "ContainsOldGroupVersions": False}


def trace_documents(model: GraphModel, minutes: list[int], per_minute: int, seed: int) -> list[str]:
    """Segment documents for `per_minute` traces from every root service in each epoch minute."""
    rng = random.Random(seed)
    called = {c for callees in model.calls.values() for c in callees}
    roots = sorted(n for n in model.kinds if n not in called and model.kinds[n] != "external")
    docs: list[str] = []

    def hexid(n: int) -> str:
        return f"{rng.getrandbits(n * 4):0{n}x}"

    def visit(
        svc: str, minute: int, start: float, trace_id: str, parent: str | None
    ) -> tuple[list[dict[str, Any]], float, bool]:
        st = model.stats.get(svc, {}).get(minute)
        if st is None:
            return [], start + 0.01, False
        rate = st.faults / st.requests if st.requests else 0.0
        fault = rng.random() < rate
        duration = st.p50_s * (0.6 + 0.8 * rng.random())
        seg_id = hexid(16)
        subsegments = []
        out: list[dict[str, Any]] = []
        t = start + 0.001
        for callee in sorted(model.calls.get(svc, [])):
            sub_id = hexid(16)
            kind = model.kinds.get(callee, "external")
            if kind in ("ecs", "asg", "lambda"):
                child, end, child_fault = visit(callee, minute, t, trace_id, sub_id)
                out.extend(child)
            else:
                cst = model.stats.get(callee, {}).get(minute)
                end = t + (cst.p50_s if cst else 0.01)
                child_fault = bool(cst and cst.requests and rng.random() < cst.faults / cst.requests)
            subsegments.append(
                {
                    "id": sub_id,
                    "name": callee,
                    "start_time": round(t, 6),
                    "end_time": round(end, 6),
                    "namespace": "aws" if kind in ("dynamodb", "sqs", "lambda") else "remote",
                    "fault": child_fault,
                    "http": {"response": {"status": 500 if child_fault else 200}},
                }
            )
            fault = fault or child_fault
            t = end + 0.001
        end_time = max(t, start + duration)
        doc: dict[str, Any] = {
            "name": svc,
            "id": seg_id,
            "trace_id": trace_id,
            "start_time": round(start, 6),
            "end_time": round(end_time, 6),
            "origin": NODE_TYPE.get(model.kinds[svc], "remote"),
            "http": {
                "request": {"method": "GET", "url": f"https://{svc}.internal/api/items"},
                "response": {"status": 500 if fault else 200},
            },
            "fault": fault,
            "subsegments": subsegments,
        }
        if parent:
            doc["parent_id"] = parent
        out.insert(0, doc)
        return out, end_time, fault

    for minute in minutes:
        for root in roots:
            for _ in range(per_minute):
                start = minute * 60 + rng.random() * 59
                trace_id = f"1-{int(start):08x}-{hexid(24)}"
                segs, _, _ = visit(root, minute, start, trace_id, None)
                docs.extend(json.dumps(s) for s in segs)
    return docs
