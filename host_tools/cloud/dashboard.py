"""The dashboard: per device, readings per sensor over time and a timeline of token events.

Rendered on the server as HTML with inline SVG: no script, so it looks the same in any browser
and in a headless screenshot. A line breaks where a sensor has a gap (no reading for more
than `GAP_FACTOR` times its usual interval, shaded) or a no-reading reason (a red cross at the
bottom, its reason written beside it).
"""

import itertools
import statistics
import time
from html import escape

from .releases import device_line
from .web import html_response

GAP_FACTOR = 2.5
MAX_POINTS = 20000  # the latest readings per device
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
WIDTH, PLOT_HEIGHT, MARGIN_LEFT, MARGIN_RIGHT = 960, 280, 60, 45
LABEL_SPACING = 40  # px between two reason labels; closer crosses share one
STYLE = (
    "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}"
    "section{margin-bottom:2.5em}h2{margin:.2em 0}.facts{color:#555}"
    "table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;text-align:left}"
    "tr:nth-child(even){background:#f3f3f3}svg text{font:11px system-ui,sans-serif}"
)


def _clock_label(t, span):
    return time.strftime("%H:%M:%S" if span < 6 * 3600 else "%m-%d %H:%M", time.gmtime(t))


class _Axis:
    """Maps Unix time to x pixels across the plot width."""

    def __init__(self, t0, t1):
        self.t0, self.t1 = t0, max(t1, t0 + 1)

    def x(self, t):
        inner = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
        return MARGIN_LEFT + (t - self.t0) / (self.t1 - self.t0) * inner

    def ticks(self, y_top, y_bottom):
        span = self.t1 - self.t0
        out = []
        for i in range(6):
            t = self.t0 + span * i / 5
            x = self.x(t)
            out.append(
                f"<line x1='{x:.1f}' y1='{y_top}' x2='{x:.1f}' y2='{y_bottom}' stroke='#eee'/>"
                f"<text x='{x:.1f}' y='{y_bottom + 14}' text-anchor='middle'>"
                f"{_clock_label(t, span)}</text>"
            )
        return "".join(out)


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


def _readings_svg(rows):
    timed = [r for r in rows if r["t"] is not None]
    if not timed:
        return "<p class='facts'>No readings with a time yet.</p>"
    axis = _Axis(min(r["t"] for r in timed), max(r["t"] for r in timed))
    values = [r["c"] for r in timed if r["c"] is not None] or [0.0]
    low, high = min(values) - 0.5, max(values) + 0.5
    top, bottom = 10, PLOT_HEIGHT - 30

    def y(c):
        return bottom - (c - low) / (high - low) * (bottom - top - 20)

    parts = [axis.ticks(top, bottom)]
    for i in range(5):
        c = low + (high - low) * i / 4
        parts.append(
            f"<text x='{MARGIN_LEFT - 6}' y='{y(c) + 4:.1f}' text-anchor='end'>{c:.1f}</text>"
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
        f"<line x1='{MARGIN_LEFT}' y1='{bottom}' x2='{WIDTH - MARGIN_RIGHT}' y2='{bottom}'"
        " stroke='#888'/>"
    )
    svg = (
        f"<svg width='{WIDTH}' height='{PLOT_HEIGHT}' role='img' aria-label='readings'>"
        f"{''.join(parts)}</svg>"
    )
    return svg + "<div class='legend'>" + " &nbsp; ".join(legend) + "</div>"


def _timeline_svg(events):
    shown = [e for e in events if e["kind"] in EVENT_COLOURS]
    if not shown:
        return "<p class='facts'>No token events yet.</p>"
    kinds = [k for k in EVENT_COLOURS if any(e["kind"] == k for e in shown)]
    lane = 18
    height = lane * len(kinds) + 30
    axis = _Axis(min(e["at"] for e in shown), max(e["at"] for e in shown))
    parts = [axis.ticks(0, height - 24)]
    for i, kind in enumerate(kinds):
        y = 12 + i * lane
        parts.append(f"<text x='{MARGIN_LEFT - 6}' y='{y + 4}' text-anchor='end'>{kind}</text>")
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


def _device_section(cloud, device_row):
    device_id = device_row["id"]
    rows = cloud.store.all(
        "SELECT * FROM (SELECT seq, sensor, label, t, c, error FROM readings WHERE device_id = ?"
        " ORDER BY seq DESC LIMIT ?) ORDER BY t, seq",
        device_id,
        MAX_POINTS,
    )
    untimed = sum(1 for r in rows if r["t"] is None)
    events = cloud.store.events(device_id)
    errors = sum(1 for r in rows if r["error"])
    facts = (
        f"{device_row['profile']} &middot; {len(rows)} readings ({errors} without a value"
        f"{f', {untimed} without a time' if untimed else ''}) &middot; "
        f"{device_row['dropped']} dropped on the device &middot; "
        f"{escape(device_line(cloud.store, device_id))}"
    )
    return (
        f"<section id='{escape(device_id)}'><h2>{escape(device_id)}</h2>"
        f"<div class='facts'>{facts}</div><h3>Readings (&deg;C)</h3>{_readings_svg(rows)}"
        f"<h3>Token events</h3>{_timeline_svg(events)}{_events_table(events)}</section>"
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
