"""Log analysis: templates, new versus baseline, exception names and stack frames in several languages."""

from __future__ import annotations

from bot.analysis.logs import Frame, Line, exception_name, mentions, mine_templates, split_level, stack_frames

PY_TRACE = """Traceback (most recent call last):
  File "forge/handlers.py", line 57, in get_robot
    return cache.load(robot_id)
  File "forge/cache.py", line 88, in load
    return Record.from_dict(raw)
CacheDeserializeError: unexpected field 'ts' in cached record"""


def test_python_java_node_and_go_frames() -> None:
    assert stack_frames(PY_TRACE) == (
        Frame("forge/handlers.py", 57, "get_robot"),
        Frame("forge/cache.py", 88, "load"),
    )
    java = "java.lang.NullPointerException\n\tat com.acme.Cart.total(Cart.java:42)\n\tat com.acme.Api.get(Api.java:7)"
    assert [f.file for f in stack_frames(java)] == ["Cart.java", "Api.java"]
    node = "TypeError: x is undefined\n    at render (/app/src/view.js:12:5)\n    at /app/src/index.ts:3:1"
    assert [(f.file, f.line) for f in stack_frames(node)] == [
        ("/app/src/view.js", 12),
        ("/app/src/index.ts", 3),
    ]
    go = "panic: runtime error\ngoroutine 1 [running]:\nmain.handler()\n\t/src/server/handler.go:88 +0x1d"
    assert [(f.file, f.line) for f in stack_frames(go)] == [("/src/server/handler.go", 88)]


def test_exception_name_prefers_the_most_specific() -> None:
    assert exception_name(PY_TRACE) == "CacheDeserializeError"
    assert exception_name("botocore.exceptions.ClientError: An error occurred (AccessDeniedException)") == (
        "AccessDeniedException"
    )
    assert exception_name("sqlite3.OperationalError: no such table: robot_cache") == "OperationalError"
    assert exception_name("all good") is None


def test_split_level() -> None:
    assert split_level("[ERROR] boom") == ("ERROR", "boom")
    assert split_level("WARNING: slow") == ("WARN", "slow")
    assert split_level("plain text") == ("INFO", "plain text")


def test_templates_count_new_lines_against_the_baseline() -> None:
    lines = [Line(10, "WARN", f"slow request GET /x took {ms}ms") for ms in (300, 400, 500)]
    lines += [
        Line(100 + i, "ERROR", f"CacheDeserializeError: bad record {i:08x}\n{PY_TRACE}", f"i-{i % 2}")
        for i in range(6)
    ]
    lines += [Line(120, "WARN", "slow request GET /y took 900ms"), Line(130, "INFO", "ignored")]
    templates = mine_templates(lines, incident_start=90)
    first = templates[0]
    assert first.is_new and first.level == "ERROR" and first.count == 6
    assert first.exception == "CacheDeserializeError"
    assert {f.file for f in first.frames} == {"forge/handlers.py", "forge/cache.py"}
    assert first.streams == {"i-0", "i-1"}
    slow = next(t for t in templates if t.level == "WARN")
    assert slow.baseline_count == 3 and slow.count == 1 and not slow.is_new
    assert all(t.level != "INFO" for t in templates)


def test_mentions_is_token_aware() -> None:
    assert mentions("denied on table/bot-config now", "bot-config")
    assert not mentions("denied on table/bot-configs", "bot-config")
    assert not mentions("anything", "")
