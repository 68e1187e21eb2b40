"""The dashboard's charts as inline SVG: pure functions from numbers to markup, no queries.

Every chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>` (a
sentence with the totals), with axis labels as `<text>`; the template puts a visually-hidden
table of the same numbers beside it. Labels (role names come from administrators) go through
format_html, which escapes them; only the assembled result is marked safe. Colours are CSS classes
(static/css/pim.css, `.chart-*`): the site's CSP forbids inline styles."""

from collections.abc import Sequence
from datetime import date

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# Plot area of the vertical bar charts, in viewBox units.
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 48
X_LABEL_EVERY = 5  # days between labels under the activations chart
MAX_TICKS = 5


def _html(template: str, *args) -> SafeString:
    """format_html with coordinates rounded to 0.1 (format_html escapes its arguments to strings
    first, so a format spec such as {:.1f} cannot do it)."""
    return format_html(template, *(round(arg, 1) if isinstance(arg, float) else arg for arg in args))


def ticks(maximum: int) -> list[int]:
    """Round values from 0 to at least `maximum` for a y axis: steps of 1, 2 or 5 times a power
    of ten, at most MAX_TICKS + 1 of them. An empty chart still gets 0 and 1."""
    maximum = max(maximum, 1)
    step = 1
    while True:
        for factor in (1, 2, 5):
            if -(-maximum // (step * factor)) <= MAX_TICKS:
                step *= factor
                top = -(-maximum // step) * step
                return list(range(0, top + 1, step))
        step *= 10


def _svg(*, chart_id: str, title: str, desc: str, width: int, height: int, body: SafeString) -> SafeString:
    return _html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" aria-labelledby="{}-title" aria-describedby="{}-desc"'
        ' xmlns="http://www.w3.org/2000/svg"><title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}</svg>',
        width, height, chart_id, chart_id, chart_id, title, chart_id, desc, body,
    )  # fmt: skip


def _y_axis(*, values: list[int], plot_height: int, label: str) -> SafeString:
    """Gridlines and tick labels at `values`, the axis line and its label, for a plot TOP..TOP+plot_height."""
    top = values[-1]
    parts = []
    for value in values:
        y = TOP + plot_height - plot_height * value / top
        parts.append(_html(
            '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="chart-tick" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
            LEFT, WIDTH - RIGHT, y, y, LEFT - 6, y, value,
        ))  # fmt: skip
    parts.append(_html(
        '<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="chart-axis-label" x="14" y="{}" text-anchor="middle"'
        ' transform="rotate(-90 14 {})">{}</text>',
        LEFT, LEFT, TOP, TOP + plot_height, TOP + plot_height / 2, TOP + plot_height / 2, label,
    ))  # fmt: skip
    return mark_safe("".join(parts))  # noqa: S308  each part came from format_html


def _x_axis(*, label: str) -> SafeString:
    base = HEIGHT - BOTTOM
    return _html(
        '<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="chart-axis-label" x="{}" y="{}" text-anchor="middle">{}</text>',
        LEFT, WIDTH - RIGHT, base, base, LEFT + (WIDTH - LEFT - RIGHT) / 2, HEIGHT - 6, label,
    )  # fmt: skip


def _bars(values: Sequence[tuple[str, int, str]], *, y_label: str, x_label: str, every: int = 1) -> SafeString:
    """Vertical bars, one per (label, value, css class), labelled under every `every`-th bar
    (and the last), with a y axis of round ticks."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    scale = ticks(max((value for _, value, _ in values), default=0))
    slot = plot_width / max(len(values), 1)
    parts = [_y_axis(values=scale, plot_height=plot_height, label=y_label)]
    for index, (label, value, css) in enumerate(values):
        height = plot_height * value / scale[-1]
        x = LEFT + index * slot
        parts.append(_html(
            '<rect class="chart-bar {}" x="{}" y="{}" width="{}" height="{}">'
            '<title>{}: {}</title></rect>',
            css, x + slot * 0.15, TOP + plot_height - height, slot * 0.7, height, label, value,
        ))  # fmt: skip
        if index % every == 0 or index == len(values) - 1:
            parts.append(_html(
                '<text class="chart-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                x + slot / 2, TOP + plot_height + 16, label,
            ))  # fmt: skip
    parts.append(_x_axis(label=x_label))
    return mark_safe("".join(parts))  # noqa: S308  each part came from format_html


def activations_chart(per_day: Sequence[tuple[date, int]]) -> SafeString:
    """Bars of activations per UTC day, oldest first; a label every X_LABEL_EVERY days."""
    total = sum(count for _, count in per_day)
    desc = "No activations in this period."
    if per_day and total:
        busiest, most = max(per_day, key=lambda row: row[1])
        desc = (f"{total} activation{'s' if total != 1 else ''} from {per_day[0][0]:%Y-%m-%d} to "
                f"{per_day[-1][0]:%Y-%m-%d} (UTC days); the most, {most}, on {busiest:%Y-%m-%d}.")  # fmt: skip
    body = _bars([(f"{day:%m-%d}", count, "chart-activation") for day, count in per_day],
                 y_label="Activations", x_label="Day (UTC, month-day)", every=X_LABEL_EVERY)  # fmt: skip
    return _svg(chart_id="chart-activations", title=f"Activations per day, last {len(per_day)} days", desc=desc,
                width=WIDTH, height=HEIGHT, body=body)  # fmt: skip


def assignments_chart(*, eligible: int, permanent_active: int, time_bound_active: int) -> SafeString:
    """Three bars: assignments in effect by type."""
    rows = [("Eligible", eligible, "chart-eligible"), ("Permanent active", permanent_active, "chart-permanent"),
            ("Time-bound active", time_bound_active, "chart-active")]  # fmt: skip
    desc = "Assignments in effect now: " + ", ".join(f"{label.lower()} {value}" for label, value, _ in rows) + "."
    body = _bars(rows, y_label="Assignments", x_label="Assignment type")
    return _svg(chart_id="chart-assignments", title="Assignments by type", desc=desc, width=WIDTH, height=HEIGHT,
                body=body)  # fmt: skip


ROW, NAME_WIDTH = 28, 210  # the holders chart: height of one role's row; room for role names
NAME_CHARS = 30  # longer names are cut with an ellipsis to fit NAME_WIDTH; the table has them whole


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def holders_chart(rows: Sequence[tuple[str, int, int]]) -> SafeString:
    """Horizontal bars, one per (role name, eligible, active), eligible and active stacked, with
    a legend and an x axis of round ticks."""
    plot_width = WIDTH - NAME_WIDTH - RIGHT
    plot_height = ROW * max(len(rows), 1)
    height = TOP + 24 + plot_height + BOTTOM  # legend above the plot
    top = TOP + 24
    scale = ticks(max((eligible + active for _, eligible, active in rows), default=0))
    parts = [_html(
        '<rect class="chart-bar chart-eligible" x="{}" y="{}" width="12" height="12"/>'
        '<text class="chart-tick" x="{}" y="{}">Eligible</text>'
        '<rect class="chart-bar chart-active" x="{}" y="{}" width="12" height="12"/>'
        '<text class="chart-tick" x="{}" y="{}">Active</text>',
        NAME_WIDTH, TOP, NAME_WIDTH + 18, TOP + 10, NAME_WIDTH + 90, TOP, NAME_WIDTH + 108, TOP + 10,
    )]  # fmt: skip
    for value in scale:
        x = NAME_WIDTH + plot_width * value / scale[-1]
        parts.append(_html(
            '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="chart-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
            x, x, top, top + plot_height, x, top + plot_height + 16, value,
        ))  # fmt: skip
    for index, (name, eligible, active) in enumerate(rows):
        y = top + index * ROW
        eligible_width = plot_width * eligible / scale[-1]
        active_width = plot_width * active / scale[-1]
        parts.append(_html(
            '<text class="chart-tick" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
            '<rect class="chart-bar chart-eligible" x="{}" y="{}" width="{}" height="{}">'
            '<title>{}: {} eligible</title></rect>'
            '<rect class="chart-bar chart-active" x="{}" y="{}" width="{}" height="{}">'
            '<title>{}: {} active</title></rect>',
            NAME_WIDTH - 6, y + ROW / 2, _short(name),
            NAME_WIDTH, y + 4, eligible_width, ROW - 8, name, eligible,
            NAME_WIDTH + eligible_width, y + 4, active_width, ROW - 8, name, active,
        ))  # fmt: skip
    parts.append(_html(
        '<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="chart-axis-label" x="{}" y="{}" text-anchor="middle">Holders (assignments in effect)</text>'
        '<text class="chart-axis-label" x="14" y="{}" text-anchor="middle"'
        ' transform="rotate(-90 14 {})">Role</text>',
        NAME_WIDTH, NAME_WIDTH, top, top + plot_height, NAME_WIDTH, WIDTH - RIGHT, top + plot_height,
        top + plot_height, NAME_WIDTH + plot_width / 2, height - 6, top + plot_height / 2, top + plot_height / 2,
    ))  # fmt: skip
    held = [(name, eligible, active) for name, eligible, active in rows if eligible or active]
    desc = "; ".join(f"{name}: {eligible} eligible, {active} active" for name, eligible, active in held) + "."
    if not held:
        desc = "No role has an eligible or active holder."
    body = mark_safe("".join(parts))  # noqa: S308  each part came from format_html
    return _svg(chart_id="chart-holders", title="Holders per role, eligible and active", desc=desc, width=WIDTH,
                height=height, body=body)  # fmt: skip
