"""The dashboard: per device, readings per sensor over time and a timeline of token events.

Rendered on the server as HTML with inline SVG: no script, so it looks the same in any browser
and in a headless screenshot. A line breaks where a sensor has a gap (no reading for more
than `GAP_FACTOR` times its usual interval, shaded) or a no-reading reason (a red cross at the
bottom, its reason written beside it and explained under the plot, `NO_READING_REASONS`).

Where the ticks go is matplotlib's (`MaxNLocator` for temperatures, `AutoDateLocator` with
`ConciseDateFormatter` for time): round steps on both axes, labels that say the day once and
then only what changes, whether the plot spans minutes or weeks. The readings and the token
events share one time axis, so what happened to the tokens lines up with the readings.
"""

import datetime
import itertools
import statistics
import time
from html import escape

from matplotlib import dates as mdates
from matplotlib.textpath import TextPath
from matplotlib.ticker import MaxNLocator

from .releases import device_line
from .web import html_response

GAP_FACTOR = 2.5
MAX_POINTS = 100000  # the latest readings per device drawn; the page says when there are more
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
EVENT_COLOURS = {
    "issued": "#2ca02c",
    "refreshed": "#1f77b4",
    "replayed": "#17becf",
    "expired": "#ff7f0e",
    "rejected": "#d62728",
    "revoked": "#000000",
    "device_code_approved": "#9467bd",
    "device_code_denied": "#9467bd",
    "seq_conflict": "#e377c2",
}
# What each reason a device sends instead of a value means (README, "Cloud wire contract").
# A reason not listed here is shown as the device sent it.
NO_READING_REASONS = {
    "crc": "the sensor's reply failed its CRC check",
    "absent": "the sensor did not answer",
    "power_on_value": "85 °C power-on value: the conversion did not run",
    "bus_short": "the 1-Wire bus is held low (a short)",
    "range": "a value outside the sensor's range",
    "fault": "the thermocouple amplifier reported a fault",
}
WIDTH, PLOT_HEIGHT, MARGIN_RIGHT = 960, 280, 45
FONT_PX = 11
LABEL_SPACING = 40  # px between two reason labels; closer crosses share one
STYLE = (
    "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}"
    "section{margin-bottom:2.5em}h2{margin:.2em 0}.facts{color:#555}"
    "table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;text-align:left}"
    "tr:nth-child(even){background:#f3f3f3}svg text{font:11px system-ui,sans-serif}"
)


def _clock_label(t, span):
    return time.strftime("%H:%M:%S" if span < 6 * 3600 else "%m-%d %H:%M", time.gmtime(t))


def text_width(text):
    """The width of `text` in px at the plots' font size (matplotlib's font metrics)."""
    return TextPath((0, 0), text, size=FONT_PX).get_extents().width


class _Axis:
    """Maps Unix time to x pixels right of a left margin wide enough for the lane labels."""

    def __init__(self, t0, t1, margin_left):
        self.t0, self.t1 = t0, max(t1, t0 + 1)
        self.left = margin_left

    def x(self, t):
        inner = WIDTH - self.left - MARGIN_RIGHT
        return self.left + (t - self.t0) / (self.t1 - self.t0) * inner

    def ticks(self, y_top, y_bottom):
        locator = mdates.AutoDateLocator(tz=datetime.UTC, minticks=4, maxticks=8)
        formatter = mdates.ConciseDateFormatter(locator, tz=datetime.UTC)
        start, end = (datetime.datetime.fromtimestamp(t, datetime.UTC) for t in (self.t0, self.t1))
        values = [v for v in locator.tick_values(start, end) if start <= mdates.num2date(v) <= end]
        out = []
        for value, label in zip(values, formatter.format_ticks(values), strict=True):
            x = self.x(mdates.num2date(value).timestamp())
            out.append(
                f"<line x1='{x:.1f}' y1='{y_top}' x2='{x:.1f}' y2='{y_bottom}' stroke='#eee'/>"
                f"<text x='{x:.1f}' y='{y_bottom + 14}' text-anchor='middle'>"
                f"{escape(label)}</text>"
            )
        offset = formatter.get_offset()  # the date the short labels belong to
        if offset:
            out.append(
                f"<text x='{WIDTH - MARGIN_RIGHT}' y='{y_bottom + 28}' text-anchor='end'"
                f" fill='#777'>{escape(offset)} (UTC)</text>"
            )
        return "".join(out)


def _margin_left(events):
    """Room for the y labels and the longest event lane shown."""
    labels = [k for k in EVENT_COLOURS if any(e["kind"] == k for e in events)]
    return 12 + max([text_width("-00.0")] + [text_width(k) for k in labels])


def _segments(points):
    """Split one sensor's (t, c) points into runs with no gap; return (runs, gaps)."""
    steps = [b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0]]
    usual = statistics.median(steps) if steps else 0
    runs, gaps, run = [], [], []
    for point in points:
        if run and usual and point[0] - run[-1][0] > GAP_FACTOR * usual:
            gaps.append((run[-1][0], point[0]))
            runs.append(run)
            run = []
        run.append(point)
    if run:
        runs.append(run)
    return runs, gaps


def _series(rows):
    """Readings by (sensor, label), in time order."""
    by_sensor = {}
    for row in rows:
        by_sensor.setdefault((row["sensor"], row["label"] or row["sensor"]), []).append(row)
    return by_sensor


def _split(sensor_rows):
    """(runs of (t, c), gaps as (t0, t1), failed reads): a run ends at a gap or a failed read."""
    runs, gaps, failed, current = [], [], [], []
    for row in sensor_rows + [None]:
        if row is not None and row["c"] is not None:
            current.append((row["t"], row["c"]))
            continue
        more_runs, more_gaps = _segments(current)
        runs += more_runs
        gaps += more_gaps
        current = []
        if row is not None:
            failed.append(row)
    return runs, gaps, failed


def _no_reading_mark(x, bottom, label, reason, with_text):
    """A red cross on the time axis; hovering names the sensor and the reason."""
    text = (
        f"<text x='{x + 5:.1f}' y='{bottom - 14}' fill='#d62728'>{escape(reason)}</text>"
        if with_text
        else ""
    )
    return (
        f"<g><title>{escape(label)}: no reading ({escape(reason)})</title>"
        f"<text x='{x:.1f}' y='{bottom - 4}' fill='#d62728' text-anchor='middle'"
        f" font-weight='bold'>&#215;</text>{text}</g>"
    )


def _sensor_svg(axis, y, top, bottom, colour, label, sensor_rows):
    runs, gaps, failed = _split(sensor_rows)
    parts = []
    for start, end in gaps:
        x0, x1 = axis.x(start), axis.x(end)
        parts.append(
            f"<rect x='{x0:.1f}' y='{top}' width='{max(1, x1 - x0):.1f}'"
            f" height='{bottom - top}' fill='#bbb' opacity='0.25'><title>gap</title></rect>"
            f"<text x='{(x0 + x1) / 2:.1f}' y='{top + 12}' fill='#777'"
            " text-anchor='middle'>gap</text>"
        )
    for run in runs:
        points = " ".join(f"{axis.x(t):.1f},{y(c):.1f}" for t, c in run)
        parts.append(
            f"<polyline points='{points}' fill='none' stroke='{colour}' stroke-width='2'/>"
        )
        if len(run) == 1:
            parts.append(
                f"<circle cx='{axis.x(run[0][0]):.1f}' cy='{y(run[0][1]):.1f}' r='3'"
                f" fill='{colour}'/>"
            )
    last_label_x = -LABEL_SPACING
    for row in failed:
        x = axis.x(row["t"])
        with_text = x - last_label_x >= LABEL_SPACING
        last_label_x = x if with_text else last_label_x
        parts.append(_no_reading_mark(x, bottom, label, row["error"], with_text))
    return "".join(parts)


def _y_scale(values, top, bottom):
    """(ticks, y(c)): round temperature ticks spanning the values, and the pixel mapping."""
    low, high = min(values), max(values)
    if high - low < 1:
        low, high = low - 0.5, high + 0.5
    ticks = list(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high))
    low, high = ticks[0], ticks[-1]

    def y(c):
        return bottom - (c - low) / (high - low) * (bottom - top)

    return ticks, y


def _reasons_legend(failed_rows):
    counts = {}
    for row in failed_rows:
        counts[row["error"]] = counts.get(row["error"], 0) + 1
    if not counts:
        return ""
    items = [
        f"<span style='color:#d62728'>&#215;</span> <b>{escape(reason)}</b> ({n})"
        + (f": {escape(NO_READING_REASONS[reason])}" if reason in NO_READING_REASONS else "")
        for reason, n in sorted(counts.items())
    ]
    return "<div class='facts'>no reading: " + "; ".join(items) + "</div>"


def _readings_svg(rows, axis):
    timed = [r for r in rows if r["t"] is not None]
    if not timed:
        return "<p class='facts'>No readings with a time yet.</p>"
    top, bottom = 16, PLOT_HEIGHT - 34
    ticks, y = _y_scale([r["c"] for r in timed if r["c"] is not None] or [0.0], top, bottom)
    parts = [axis.ticks(top, bottom)]
    for c in ticks:
        parts.append(
            f"<line x1='{axis.left}' y1='{y(c):.1f}' x2='{WIDTH - MARGIN_RIGHT}'"
            f" y2='{y(c):.1f}' stroke='#f4f4f4'/>"
            f"<text x='{axis.left - 6}' y='{y(c) + 4:.1f}' text-anchor='end'>{c:g}</text>"
        )
    legend = []
    for index, ((sensor, label), sensor_rows) in enumerate(_series(timed).items()):
        colour = PALETTE[index % len(PALETTE)]
        legend.append(
            f"<span style='color:{colour}'>&#9632;</span> {escape(label)} "
            f"<small>({escape(sensor)})</small>"
        )
        parts.append(_sensor_svg(axis, y, top, bottom, colour, label, sensor_rows))
    parts.append(
        f"<line x1='{axis.left}' y1='{bottom}' x2='{WIDTH - MARGIN_RIGHT}' y2='{bottom}'"
        " stroke='#888'/>"
    )
    svg = (
        f"<svg width='{WIDTH}' height='{PLOT_HEIGHT}' role='img' aria-label='readings'>"
        f"{''.join(parts)}</svg>"
    )
    failed = [r for r in timed if r["c"] is None]
    return (
        svg + "<div class='legend'>" + " &nbsp; ".join(legend) + "</div>" + _reasons_legend(failed)
    )


def _timeline_svg(events, axis):
    shown = [e for e in events if e["kind"] in EVENT_COLOURS]
    if not shown:
        return "<p class='facts'>No token events yet.</p>"
    kinds = [k for k in EVENT_COLOURS if any(e["kind"] == k for e in shown)]
    lane = 18
    height = lane * len(kinds) + 44
    parts = [axis.ticks(0, height - 38)]
    for i, kind in enumerate(kinds):
        y = 12 + i * lane
        parts.append(f"<text x='{axis.left - 6}' y='{y + 4}' text-anchor='end'>{kind}</text>")
        for e in shown:
            if e["kind"] == kind:
                reason = f" ({e['reason']})" if e.get("reason") else ""
                parts.append(
                    f"<circle cx='{axis.x(e['at']):.1f}' cy='{y}' r='5'"
                    f" fill='{EVENT_COLOURS[kind]}'><title>{kind}{escape(reason)} at "
                    f"{_clock_label(e['at'], 0)}</title></circle>"
                )
    return (
        f"<svg width='{WIDTH}' height='{height}' role='img' aria-label='token events'>"
        f"{''.join(parts)}</svg>"
    )


def _events_table(events):
    rows = []
    for e in events[-15:]:
        detail = ", ".join(
            f"{k}={v}" for k, v in e.items() if k not in ("id", "at", "device", "kind") and v
        )
        rows.append(
            f"<tr><td>{_clock_label(e['at'], 10**9)}</td><td>{escape(e['kind'])}</td>"
            f"<td>{escape(detail)}</td></tr>"
        )
    return (
        "<table><tr><th>time (UTC)</th><th>event</th><th>detail</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _counts(cloud, device_id):
    return cloud.store.one(
        "SELECT COUNT(*) AS n, COUNT(error) AS errors, SUM(t IS NULL) AS untimed"
        " FROM readings WHERE device_id = ?",
        device_id,
    )


def _device_section(cloud, device_row):
    device_id = device_row["id"]
    rows = cloud.store.all(
        "SELECT * FROM (SELECT seq, sensor, label, t, c, error FROM readings WHERE device_id = ?"
        " ORDER BY seq DESC LIMIT ?) ORDER BY t, seq",
        device_id,
        MAX_POINTS,
    )
    counts = _counts(cloud, device_id)
    untimed = counts["untimed"] or 0
    events = cloud.store.events(device_id)
    facts = (
        f"{device_row['profile']} &middot; {counts['n']} readings ({counts['errors']} without a"
        f" value{f', {untimed} without a time' if untimed else ''}) &middot; "
        f"{device_row['dropped']} dropped on the device &middot; "
        f"{escape(device_line(cloud.store, device_id))}"
    )
    timed = [r["t"] for r in rows if r["t"] is not None]
    if len(rows) < counts["n"] and timed:
        facts += (
            f"<br>the plot shows the latest {len(rows)} of them, from "
            f"{_clock_label(min(timed), 10**9)} UTC"
        )
    shown = [e for e in events if e["kind"] in EVENT_COLOURS]
    times = timed + [e["at"] for e in shown]
    axis = _Axis(min(times), max(times), _margin_left(shown)) if times else None
    return (
        f"<section id='{escape(device_id)}'><h2>{escape(device_id)}</h2>"
        f"<div class='facts'>{facts}</div><h3>Readings (&deg;C)</h3>{_readings_svg(rows, axis)}"
        f"<h3>Token events</h3>{_timeline_svg(events, axis)}{_events_table(events)}</section>"
    )


def page(cloud, request):
    wanted = request.query.get("device", [None])[0]
    devices = cloud.store.all(
        "SELECT * FROM devices WHERE ? IS NULL OR id = ? ORDER BY created_at, id", wanted, wanted
    )
    sections = "".join(_device_section(cloud, d) for d in devices) or "<p>No devices yet.</p>"
    now = _clock_label(cloud.clock.now(), 10**9)
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tempnode dev cloud</title>"
        f"<style>{STYLE}</style></head><body><h1>tempnode dev cloud</h1>"
        f"<p class='facts'>cloud time {now} UTC</p>{sections}</body></html>"
    )
    return html_response(200, html, [("Cache-Control", "no-store")])
