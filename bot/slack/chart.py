"""A small PNG of the alarmed signal, with the onset and the suspected change marked.

Rendered with matplotlib's object API on the Agg canvas (no pyplot, no global state), at a fixed size and
DPI and without a timestamp in the file's metadata, so the same input gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import cast

from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from bot.slack.safety import redact, truncate

WIDTH_IN, HEIGHT_IN, DPI = 7.2, 3.0, 100
_SIGNAL = "#1f6feb"
_ONSET = "#d1242f"
_CHANGE = "#bf8700"
#: matplotlib's date2num is untyped; this is its signature for one datetime.
_date2num = cast(Callable[[datetime], float], mdates.date2num)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _label(text: str, limit: int) -> str:
    # matplotlib treats $...$ as mathtext; untrusted labels must not be parsed as markup
    return truncate(redact(text).replace("$", r"\$").replace("\n", " "), limit)


def signal_chart(
    points: Sequence[tuple[datetime, float]],
    onset: datetime | None,
    change_at: datetime | None,
    change_label: str | None,
    title: str,
    threshold: float | None = None,
) -> bytes:
    """PNG bytes: the signal over time, a red line at the onset, an amber line at the change, and the alarm's
    threshold dotted when there is one."""
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    data = sorted((_utc(t), float(v)) for t, v in points)
    if data:
        xs = [_date2num(t) for t, _ in data]
        ys = [v for _, v in data]
        ax.plot(xs, ys, color=_SIGNAL, linewidth=1.6, label="signal")
        ax.fill_between(xs, ys, min([*ys, 0.0]), color=_SIGNAL, alpha=0.08)
    else:
        ax.text(0.5, 0.5, "no datapoints", ha="center", va="center", transform=ax.transAxes, color="#57606a")
        ax.set_yticks([])
    if threshold is not None:
        ax.axhline(
            float(threshold), color="#57606a", linewidth=1.0, linestyle=":", label=f"threshold {threshold:g}"
        )
    if onset is not None:
        ax.axvline(
            _date2num(_utc(onset)),
            color=_ONSET,
            linewidth=1.4,
            linestyle="--",
            label=f"onset {_utc(onset):%H:%M}",
        )
    if change_at is not None:
        label = f"change {_utc(change_at):%H:%M}" + (f": {_label(change_label, 48)}" if change_label else "")
        ax.axvline(_date2num(_utc(change_at)), color=_CHANGE, linewidth=1.4, linestyle="-", label=label)
    if data or onset or change_at:
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    else:
        ax.set_xticks([])
    ax.set_title(_label(title, 90), fontsize=10, loc="left")
    ax.set_xlabel("UTC", fontsize=8, color="#57606a")
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#d0d7de", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if onset is not None or change_at is not None or threshold is not None:
        ax.legend(loc="best", fontsize=8, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
