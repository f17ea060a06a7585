"""Server-rendered SVG charts for /history: no script, no style attributes.

Colours come from classes in static/css/euterpe.css (light and dark); sizes and positions are
SVG presentation attributes. Every chart is ``role="img"`` with a title and a description,
every mark carries a native ``<title>`` tooltip, and the page shows the same numbers in a
table for screen readers.
"""

from datetime import date

from django.utils.html import format_html
from django.utils.safestring import mark_safe

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HEAT_LEVELS = 5


def duration(ms):
    """'3 h 20 min', '12 min', '40 s' (whole units, rounded down)."""
    ms = int(ms or 0)
    minutes, seconds = divmod(ms // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours:,} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def heat_level(ms, most):
    """0 for nothing, else 1..HEAT_LEVELS by the share of the busiest hour."""
    if not ms or not most:
        return 0
    return max(1, min(HEAT_LEVELS, -(-ms * HEAT_LEVELS // most)))


def clock_svg(clock, *, chart_id="clock-chart"):
    """The listening clock: 7 rows (Monday first) by 24 hours."""
    cell, gap, left, top = 22, 3, 40, 18
    width = left + 24 * (cell + gap)
    height = top + 7 * (cell + gap)
    most = max((ms for row in clock for ms in row), default=0)
    busiest = max(
        ((ms, day, hour) for day, row in enumerate(clock) for hour, ms in enumerate(row)),
        default=(0, 0, 0),
    )
    if busiest[0]:
        description = (
            f"Listening time by weekday and hour. The busiest hour is "
            f"{WEEKDAYS[busiest[1]]} {busiest[2]:02d}:00 with {duration(busiest[0])}."
        )
    else:
        description = "Listening time by weekday and hour: nothing in this period."
    cells = []
    for day, row in enumerate(clock):
        for hour, ms in enumerate(row):
            cells.append(
                format_html(
                    '<rect class="heat heat--{}" x="{}" y="{}" width="{}" height="{}" rx="4">'
                    "<title>{} {}:00 to {}:00: {}</title></rect>",
                    heat_level(ms, most),
                    left + hour * (cell + gap),
                    top + day * (cell + gap),
                    cell,
                    cell,
                    WEEKDAYS[day],
                    f"{hour:02d}",
                    f"{(hour + 1) % 24:02d}",
                    duration(ms),
                )
            )
    labels = [
        format_html(
            '<text class="chart-label" x="0" y="{}">{}</text>',
            top + day * (cell + gap) + cell - 6,
            name[:3],
        )
        for day, name in enumerate(WEEKDAYS)
    ]
    labels += [
        format_html(
            '<text class="chart-label" x="{}" y="12">{}</text>',
            left + hour * (cell + gap) + 2,
            f"{hour:02d}",
        )
        for hour in range(0, 24, 3)
    ]
    return _svg(chart_id, "Listening clock", description, width, height, labels + cells)


def timeline_svg(timeline, *, chart_id="timeline-chart"):
    """Bars of listening time per day, week or month."""
    buckets = timeline["buckets"]
    unit = timeline["unit"]
    width, height, top, bottom = 720, 180, 10, 24
    if not buckets:
        return _svg(chart_id, "Timeline", "Nothing in this period.", width, height, [])
    most = max(bucket["ms_played"] for bucket in buckets) or 1
    step = width / len(buckets)
    bar = max(step - (1 if step > 3 else 0), 0.5)
    plot = height - top - bottom
    marks = [
        format_html(
            '<line class="chart-axis" x1="0" y1="{}" x2="{}" y2="{}"></line>',
            height - bottom,
            width,
            height - bottom,
        )
    ]
    for index, bucket in enumerate(buckets):
        bar_height = round(plot * bucket["ms_played"] / most, 2)
        marks.append(
            format_html(
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}: {}, {} plays</title></rect>",
                round(index * step, 2),
                round(height - bottom - bar_height, 2),
                round(bar, 2),
                bar_height,
                bucket_label(bucket["start"], unit),
                duration(bucket["ms_played"]),
                f"{bucket['plays']:,}",
            )
        )
    first, last = buckets[0]["start"], buckets[-1]["start"]
    marks.append(
        format_html(
            '<text class="chart-label" x="0" y="{}">{}</text>',
            height - 6,
            bucket_label(first, unit),
        )
    )
    marks.append(
        format_html(
            '<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
            width,
            height - 6,
            bucket_label(last, unit),
        )
    )
    busiest = max(buckets, key=lambda b: (b["ms_played"], b["start"]))
    description = (
        f"Listening time per {unit} from {bucket_label(first, unit)} to "
        f"{bucket_label(last, unit)}; the most was {duration(busiest['ms_played'])} "
        f"({bucket_label(busiest['start'], unit)})."
    )
    return _svg(chart_id, f"Listening time per {unit}", description, width, height, marks)


def bucket_label(start, unit):
    day = date.fromisoformat(start)
    if unit == "month":
        return day.strftime("%B %Y")
    if unit == "week":
        return f"week of {day.isoformat()}"
    return day.isoformat()


def split_svg(parts, *, chart_id="split-chart"):
    """One bar split into music, podcasts, audiobooks and other."""
    width, height = 720, 28
    total = sum(ms for _name, _css, ms in parts)
    marks, x = [], 0.0
    for name, css, ms in parts:
        if not ms:
            continue
        part = width * ms / total
        marks.append(
            format_html(
                '<rect class="split split--{}" x="{}" y="0" width="{}" height="{}">'
                "<title>{}: {} ({}%)</title></rect>",
                css,
                round(x, 2),
                round(part, 2),
                height,
                name,
                duration(ms),
                round(100 * ms / total),
            )
        )
        x += part
    description = (
        "; ".join(
            f"{name} {round(100 * ms / total)}% ({duration(ms)})" for name, _c, ms in parts if ms
        )
        if total
        else "Nothing in this period."
    )
    return _svg(chart_id, "What you listened to", description, width, height, marks)


def _svg(chart_id, title, description, width, height, marks):
    return format_html(
        '<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" '
        'viewBox="0 0 {w} {h}" width="{w}" height="{h}" preserveAspectRatio="xMinYMin meet">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{marks}</svg>',
        id=chart_id,
        w=width,
        h=height,
        title=title,
        desc=description,
        marks=mark_safe("".join(marks)),  # noqa: S308 - every mark is built by format_html
    )
