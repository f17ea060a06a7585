"""Summaries of the preset periods, computed once per listener, zone and history state.

The presets are all time, each year and each month with entries, and the last 12 months.
The worker computes them all when an import ends (``rebuild``); a page that asks for a preset
whose row is missing or stale computes it once and stores it (``get_summary``). A row names
the history state it was computed from (``history_stamp``: the listener's imports, which
change whenever entries are added or deleted: an import ending, a cancel, "Delete my
history"; and when the sync or its purge last changed entries); a zone change asks for
other rows. What is stored is exactly what
``insights.summary`` returned: the tests compare the two.
"""

import logging
from datetime import date, timedelta

from django.db import IntegrityError, connection, transaction

from listening_history import insights
from listening_history.insight_models import ListenerZone, PrecomputedSummary

logger = logging.getLogger(__name__)

DEFAULT_ZONE = "UTC"


def zone_of(user_id):
    """The listener's saved zone name, or None before they chose one."""
    return ListenerZone.objects.filter(user_id=user_id).values_list("name", flat=True).first()


def set_zone(user_id, name):
    """Save ``name`` (validated) as the listener's zone; their old zone's rows go."""
    insights.zone(name)
    ListenerZone.objects.update_or_create(user_id=user_id, defaults={"name": name})
    PrecomputedSummary.objects.filter(user_id=user_id).exclude(zone=name).delete()


def history_stamp(user_id):
    """A string that changes whenever the listener's entries may have changed."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), max(finished_at), max(created_at),
                   (SELECT changed_at FROM listening_history_syncstate WHERE user_id = %s)
            FROM listening_history_import WHERE user_id = %s
            """,
            [user_id, user_id],
        )
        count, finished, created, synced = cursor.fetchone()
    moments = (finished, created) if synced is None else (finished, created, synced)
    return "|".join([str(count), *(moment.isoformat() if moment else "" for moment in moments)])


def period_key(period):
    if period.all_time:
        return "all"
    return f"{period.start.isoformat()}..{period.end.isoformat()}"


def is_preset(period, *, today):
    """All time, a calendar year, a calendar month, or the last 12 months."""
    if period.all_time or period == insights.last_12_months(today):
        return True
    start, end = period.start, period.end
    if start.day != 1:
        return False
    if start.month == 1 and end == date(start.year, 12, 31):
        return True
    return end == insights.next_month(start) - timedelta(days=1)


def preset_periods(months, *, today):
    """All time, the last 12 months, and each year and month of ``months`` (YYYY-MM)."""
    periods = [insights.Period(), insights.last_12_months(today)]
    years = sorted({int(month[:4]) for month in months})
    for year in years:
        periods.append(insights.Period(date(year, 1, 1), date(year, 12, 31)))
    periods += [month_period(month) for month in months]
    return periods


def month_period(month):
    """The Period of ``month`` (YYYY-MM)."""
    start = date(int(month[:4]), int(month[5:7]), 1)
    return insights.Period(start, insights.next_month(start) - timedelta(days=1))


def get_summary(user_id, *, zone_name, period, order="time", today):
    """``insights.summary`` for the listener, from its stored row when the period is a preset."""
    if not is_preset(period, today=today):
        return insights.summary(user_id, tz_name=zone_name, period=period, order=order)
    stamp = history_stamp(user_id)
    key = period_key(period)
    row = (
        PrecomputedSummary.objects.filter(
            user_id=user_id, zone=zone_name, period=key, order=order, stamp=stamp
        )
        .values_list("data", flat=True)
        .first()
    )
    if row is not None:
        return row
    data = insights.summary(user_id, tz_name=zone_name, period=period, order=order)
    _store(user_id, zone_name, key, order, stamp, data)
    return data


def get_detail(user_id, *, kind, ident, items, zone_name, period, order="time", today):
    """``insights.detail`` of an artist's or a track's ``items`` (``kind`` "artist" or
    "track", ``ident`` its ``links`` id), stored like a preset's summary when the period is
    a preset: the first view computes, later views read one row, until the history changes.
    """
    if not is_preset(period, today=today):
        return insights.detail(user_id, items=items, tz_name=zone_name, period=period, order=order)
    stamp = history_stamp(user_id)
    key = f"{kind}:{ident}:{period_key(period)}"
    row = (
        PrecomputedSummary.objects.filter(
            user_id=user_id, zone=zone_name, period=key, order=order, stamp=stamp
        )
        .values_list("data", flat=True)
        .first()
    )
    if row is not None:
        return row
    data = insights.detail(user_id, items=items, tz_name=zone_name, period=period, order=order)
    _store(user_id, zone_name, key, order, stamp, data)
    return data


def _store(user_id, zone_name, key, order, stamp, data):
    try:
        with transaction.atomic():
            PrecomputedSummary.objects.update_or_create(
                user_id=user_id,
                zone=zone_name,
                period=key,
                order=order,
                defaults={"stamp": stamp, "data": data},
            )
    except IntegrityError:
        # Another request stored the same row first; theirs is as good.
        pass


def rebuild(user_id, *, today=None):
    """Compute and store every preset of the listener's zone (the worker, after an import)."""
    zone_name = zone_of(user_id) or DEFAULT_ZONE
    tz = insights.zone(zone_name)
    today = today or insights.today_in(tz)
    stamp = history_stamp(user_id)
    PrecomputedSummary.objects.filter(user_id=user_id).exclude(stamp=stamp, zone=zone_name).delete()
    everything = insights.summary(user_id, tz_name=zone_name)
    built = 0
    for period in preset_periods(everything["months"], today=today):
        data = (
            everything
            if period.all_time
            else insights.summary(user_id, tz_name=zone_name, period=period)
        )
        _store(user_id, zone_name, period_key(period), "time", stamp, data)
        built += 1
    logger.info("Summaries rebuilt for user %s: %s periods in %s", user_id, built, zone_name)
    return built


def forget(user_id):
    """Drop the listener's stored summaries (for writers of entries other than imports)."""
    PrecomputedSummary.objects.filter(user_id=user_id).delete()
