"""CloudWatch Logs Insights (``StartQuery`` / ``GetQueryResults`` / ``StopQuery``) over the seeded log events.

moto ignores ``filter`` and ``stats``; this stand-in runs a useful subset of the query language:

    fields a, b | display a, b
    filter @message like /regex/ | filter @message like 'text' | filter @message not like /x/
    filter field = 'x' | filter field != 'x' | filter @message =~ /regex/     (joined with and / or)
    parse @message /(?<level>\\w+) (?<rest>.*)/
    stats count(*) [as name] [by bin(5m) | by field, ...]
    sort field [asc|desc] | limit n

Fields: ``@timestamp``, ``@message``, ``@logStream``, ``@log``, ``@ingestionTime``, ``@ptr``, fields a
``parse`` names, and the top-level keys of JSON messages. Queries run at StartQuery and complete at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.aws.protocol import Reply, Request, error_reply, json_reply


@dataclass(frozen=True)
class LogRecord:
    """One log event of one stream."""

    group: str
    stream: str
    timestamp: int  # epoch ms
    ingestion: int  # epoch ms
    message: str


class QueryError(ValueError):
    """A query the stand-in does not understand (AWS answers MalformedQueryException)."""


def _split(query: str) -> list[str]:
    """Split on `|` outside quotes and /regex/ literals."""
    parts, cur, quote = [], [], ""
    for ch in query:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"/`":
            quote = ch
            cur.append(ch)
        elif ch == "|":
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _fmt_ts(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


_COND = re.compile(
    r"""^\s*(?P<field>[@\w.]+)\s*(?P<op>not\s+like|like|=~|!=|=)\s*
        (?:/(?P<re>(?:[^/\\]|\\.)*)/(?P<flags>i?)|'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<num>-?\d+(?:\.\d+)?))\s*$""",
    re.X | re.I,
)


def _condition(text: str) -> Callable[[dict[str, Any]], bool]:
    ors = re.split(r"\s+or\s+", text, flags=re.I)
    alts = [[_one(c) for c in re.split(r"\s+and\s+", part, flags=re.I)] for part in ors]
    return lambda row: any(all(t(row) for t in alt) for alt in alts)


def _one(text: str) -> Callable[[dict[str, Any]], bool]:
    m = _COND.match(text)
    if not m:
        raise QueryError(f"unsupported filter expression: {text!r}")
    field, op = m.group("field"), re.sub(r"\s+", " ", m.group("op").lower())
    if m.group("re") is not None:
        rx = re.compile(m.group("re"), re.I if m.group("flags") else 0)
        match: Callable[[str], bool] = lambda s: rx.search(s) is not None  # noqa: E731
        literal = None
    else:
        literal = m.group("sq") if m.group("sq") is not None else m.group("dq")
        if literal is None:
            literal = m.group("num")
        lit = literal
        match = lambda s: lit in s  # noqa: E731
    if op in ("like", "=~"):
        return lambda row: match(str(row.get(field, "")))
    if op == "not like":
        return lambda row: not match(str(row.get(field, "")))
    if op == "=":
        return lambda row: str(row.get(field, "")) == literal
    return lambda row: str(row.get(field, "")) != literal


_STATS = re.compile(r"^count\((?P<arg>\*|[@\w.]*)\)(?:\s+as\s+(?P<alias>\w+))?(?:\s+by\s+(?P<by>.+))?$", re.I)
_BIN = re.compile(r"^bin\((\d+)([smhd])\)$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def run_query(
    query: str, records: Sequence[LogRecord], account_id: str
) -> tuple[list[list[dict[str, str]]], int]:
    """Run a query; returns result rows (lists of {field, value}) and the number of records matched."""
    rows: list[dict[str, Any]] = []
    for rec in records:
        row: dict[str, Any] = {
            "@timestamp": _fmt_ts(rec.timestamp),
            "@message": rec.message,
            "@logStream": rec.stream,
            "@log": f"{account_id}:{rec.group}",
            "@ingestionTime": _fmt_ts(rec.ingestion),
            "@ptr": hashlib.sha1(
                f"{rec.group}/{rec.stream}/{rec.timestamp}/{rec.message}".encode()
            ).hexdigest()[:40],
            "_ts": rec.timestamp,
        }
        if rec.message.startswith("{"):
            try:
                doc = json.loads(rec.message)
                if isinstance(doc, dict):
                    row.update({k: v for k, v in doc.items() if not isinstance(v, dict | list)})
            except ValueError:
                pass
        rows.append(row)
    shown: list[str] | None = None
    limit = 1000
    sorted_by_user = False
    stats_done = False
    for cmd in _split(query):
        word, _, rest = cmd.partition(" ")
        word, rest = word.lower(), rest.strip()
        if word in ("fields", "display"):
            shown = [f.strip() for f in rest.split(",") if f.strip()]
        elif word == "filter":
            cond = _condition(rest)
            rows = [r for r in rows if cond(r)]
        elif word == "parse":
            m = re.match(r"^([@\w.]+)\s+/(.*)/$", rest)
            if not m:
                raise QueryError(f"unsupported parse: {rest!r}")
            rx = re.compile(re.sub(r"\(\?<(\w+)>", r"(?P<\1>", m.group(2)))
            for r in rows:
                pm = rx.search(str(r.get(m.group(1), "")))
                if pm:
                    r.update({k: v for k, v in pm.groupdict().items() if v is not None})
        elif word == "stats":
            rows, shown = _stats(rest, rows)
            stats_done = True
        elif word == "sort":
            parts = rest.split()
            key = parts[0]
            desc = len(parts) > 1 and parts[1].lower() == "desc"
            if key == "@timestamp" and not stats_done:
                rows.sort(key=lambda r: r["_ts"], reverse=desc)
            else:
                rows.sort(key=lambda r: _sortable(r.get(key)), reverse=desc)
            sorted_by_user = True
        elif word == "limit":
            limit = int(rest)
        elif word in ("dedup", "pattern", "unmask", "unnest", "lookup", "anomaly"):
            raise QueryError(f"the sandbox's Logs Insights does not support {word!r}")
        else:
            raise QueryError(f"unexpected command {word!r}")
    matched = len(rows)
    if not sorted_by_user and not stats_done:
        rows.sort(key=lambda r: r["_ts"], reverse=True)
    fields = shown or ["@timestamp", "@message"]
    out = []
    for r in rows[:limit]:
        cells = [{"field": f, "value": _text(r[f])} for f in fields if f in r and r[f] is not None]
        if not stats_done and "@ptr" in r:
            cells.append({"field": "@ptr", "value": r["@ptr"]})
        out.append(cells)
    return out, matched


def _sortable(v: Any) -> tuple[int, float, str]:
    if isinstance(v, int | float):
        return (0, float(v), "")
    return (1, 0.0, "" if v is None else str(v))


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _binner(step: int) -> Callable[[dict[str, Any]], Any]:
    return lambda row: _fmt_ts((row["_ts"] // step) * step)


def _getter(field: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(field)


def _stats(rest: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    m = _STATS.match(rest.strip())
    if not m:
        raise QueryError(
            f"unsupported stats: {rest!r} (the sandbox knows count(*) [as x] [by bin(Nm) | fields])"
        )
    arg = m.group("arg") or "*"
    name = m.group("alias") or f"count({arg})"
    keys: list[tuple[str, Callable[[dict[str, Any]], Any]]] = []
    for part in [p.strip() for p in (m.group("by") or "").split(",") if p.strip()]:
        b = _BIN.match(part)
        if b:
            step = int(b.group(1)) * _UNITS[b.group(2).lower()] * 1000
            keys.append((part, _binner(step)))
        else:
            keys.append((part, _getter(part)))
    groups: dict[tuple[Any, ...], int] = {}
    for r in rows:
        if arg != "*" and r.get(arg) is None:
            continue
        k = tuple(fn(r) for _, fn in keys)
        groups[k] = groups.get(k, 0) + 1
    out = []
    for k in sorted(groups, key=lambda t: tuple(_sortable(x) for x in t)):
        row: dict[str, Any] = {label: v for (label, _), v in zip(keys, k, strict=True)}
        row[name] = groups[k]
        out.append(row)
    return out, [label for label, _ in keys] + [name]


class InsightsService:
    """StartQuery / GetQueryResults / StopQuery / DescribeQueries; everything else of Logs goes to moto."""

    def __init__(self, account_id: str, records: Callable[[list[str]], list[LogRecord]]) -> None:
        self.account_id = account_id
        self.records = records
        self.queries: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def handle(self, req: Request) -> Reply | None:
        op = req.operation
        p = req.params()
        if op == "StartQuery":
            groups = list(p.get("logGroupNames") or [])
            if p.get("logGroupName"):
                groups.append(p["logGroupName"])
            groups += [
                g.split(":log-group:")[-1].removesuffix(":*") for g in p.get("logGroupIdentifiers") or []
            ]
            if not groups:
                return error_reply(req, "InvalidParameterException", "Log group names must be specified.")
            start, end = int(p["startTime"]) * 1000, int(p["endTime"]) * 1000 + 999
            recs = [r for r in self.records(groups) if start <= r.timestamp <= end]
            try:
                results, matched = run_query(p.get("queryString", ""), recs, self.account_id)
            except (QueryError, re.error) as exc:
                return error_reply(req, "MalformedQueryException", str(exc))
            if p.get("limit"):
                results = results[: int(p["limit"])]
            qid = str(uuid.uuid4())
            with self.lock:
                self.queries[qid] = {
                    "results": results,
                    "statistics": {
                        "recordsMatched": float(matched),
                        "recordsScanned": float(len(recs)),
                        "bytesScanned": float(sum(len(r.message) for r in recs)),
                    },
                    "status": "Complete",
                    "queryString": p.get("queryString", ""),
                    "logGroupName": groups[0],
                    "createTime": int(datetime.now(UTC).timestamp() * 1000),
                }
            return json_reply({"queryId": qid})
        if op == "GetQueryResults":
            q = self.queries.get(p.get("queryId", ""))
            if q is None:
                return error_reply(req, "ResourceNotFoundException", "Query does not exist.")
            return json_reply({"results": q["results"], "statistics": q["statistics"], "status": q["status"]})
        if op == "StopQuery":
            return json_reply({"success": p.get("queryId") in self.queries})
        if op == "DescribeQueries":
            return json_reply(
                {
                    "queries": [
                        {
                            "queryId": k,
                            "queryString": v["queryString"],
                            "status": v["status"],
                            "createTime": v["createTime"],
                            "logGroupName": v["logGroupName"],
                        }
                        for k, v in self.queries.items()
                    ]
                }
            )
        return None
