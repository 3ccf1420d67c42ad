"""Log analysis: cluster error and warning lines into templates (drain3), find the ones that are new
against the service's own baseline, and pull exception names and stack frames out of them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig

ERROR_LEVELS = frozenset({"ERROR", "FATAL", "CRITICAL", "SEVERE", "PANIC"})
WARN_LEVELS = frozenset({"WARN", "WARNING"})

_EXCEPTION = re.compile(r"\b([A-Za-z_][\w.]*?(?:Error|Exception|Fault|Panic|Killed|Denied|Timeout))\b")
_PY_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>[\w<>.]+))?')
_JAVA_FRAME = re.compile(r"at (?P<func>[\w$.<>]+)\((?P<file>[\w$.-]+\.(?:java|kt|scala)):(?P<line>\d+)\)")
_JS_FRAME = re.compile(
    r"at (?:(?P<func>[\w$.<> ]+) \()?(?P<file>[^\s()]+\.(?:js|ts|mjs|cjs)):(?P<line>\d+)(?::\d+)?\)?"
)
_GO_FRAME = re.compile(r"^\s*(?P<file>[\w./-]+\.go):(?P<line>\d+)", re.MULTILINE)
_LEVEL = re.compile(r"^\s*\[?(DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\b\]?[:\s]*", re.IGNORECASE)


@dataclass(frozen=True)
class Frame:
    """One stack frame."""

    file: str
    line: int
    function: str = ""


@dataclass(frozen=True)
class Line:
    """One log line as the analysis sees it: epoch seconds, level, text, and where it came from."""

    time: int
    level: str
    message: str
    stream: str = ""


@dataclass
class Template:
    """A cluster of similar lines."""

    template: str
    level: str
    count: int = 0
    baseline_count: int = 0
    first_seen: int = 0
    last_seen: int = 0
    sample: str = ""
    streams: set[str] = field(default_factory=set)
    exception: str | None = None
    frames: tuple[Frame, ...] = ()

    @property
    def is_new(self) -> bool:
        """Absent from the baseline period."""
        return self.baseline_count == 0


def split_level(message: str, default: str = "INFO") -> tuple[str, str]:
    """A line's level (from a leading `ERROR`, `[WARN]` ...) and the rest of it."""
    m = _LEVEL.match(message)
    if not m:
        return default, message
    level = m.group(1).upper()
    return ("WARN" if level == "WARNING" else level), message[m.end() :]


def exception_name(text: str) -> str | None:
    """The most specific exception or error name in the text, if any (the last one of a traceback)."""
    names = _EXCEPTION.findall(text)
    if not names:
        return None
    name: str = names[-1]
    return name.rsplit(".", 1)[-1] if "." in name and not name.endswith(".") else name


def stack_frames(text: str) -> tuple[Frame, ...]:
    """Stack frames in Python, Java/Kotlin, Node and Go traces, in the order they appear."""
    frames: list[Frame] = []
    for regex in (_PY_FRAME, _JAVA_FRAME, _JS_FRAME, _GO_FRAME):
        for m in regex.finditer(text):
            groups = m.groupdict()
            frames.append(Frame(groups["file"], int(groups["line"]), groups.get("func") or ""))
    return tuple(frames)


def _miner() -> TemplateMiner:
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_sim_th = 0.5
    config.drain_depth = 4
    config.parametrize_numeric_tokens = True
    return TemplateMiner(config=config)


def mine_templates(
    lines: Iterable[Line], incident_start: int, levels: frozenset[str] = ERROR_LEVELS | WARN_LEVELS
) -> list[Template]:
    """Cluster lines of the given levels; count each template before and from `incident_start`.

    Multi-line events (a message followed by a stack trace) are clustered on their first line; their frames
    and exception name are kept on the template.
    """
    miner = _miner()
    by_id: dict[int, Template] = {}
    for line in sorted(lines, key=lambda ln: (ln.time, ln.message)):
        level = line.level.upper()
        level = "WARN" if level == "WARNING" else level
        if level not in levels:
            continue
        head, _, rest = line.message.partition("\n")
        result = miner.add_log_message(head.strip())
        cid = int(result["cluster_id"])
        tpl = by_id.get(cid)
        if tpl is None:
            tpl = Template(template=head.strip(), level=level, first_seen=line.time, sample=head.strip())
            by_id[cid] = tpl
        tpl.template = str(result["template_mined"])
        if level in ERROR_LEVELS:
            tpl.level = level
        if line.time >= incident_start:
            if tpl.count == 0:
                tpl.first_seen = line.time
            tpl.count += 1
            tpl.last_seen = line.time
        else:
            tpl.baseline_count += 1
        if line.stream:
            tpl.streams.add(line.stream)
        if not tpl.frames and rest:
            tpl.frames = stack_frames(rest)
        if tpl.exception is None:
            tpl.exception = exception_name(line.message)
    templates = [t for t in by_id.values() if t.count > 0]
    templates.sort(key=lambda t: (not t.is_new, t.level not in ERROR_LEVELS, -t.count, t.template))
    return templates


def files_in(frames: Sequence[Frame]) -> set[str]:
    """The source files named by frames, normalised to forward slashes without a leading `./`."""
    return {f.file.replace("\\", "/").lstrip("./") for f in frames}


def mentions(text: str, needle: str) -> bool:
    """Whether `needle` appears in `text` as a whole token (case-insensitive)."""
    if not needle:
        return False
    return re.search(rf"(?<![\w-]){re.escape(needle.lower())}(?![\w-])", text.lower()) is not None
