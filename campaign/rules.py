"""Pure rules of the schedule: when a placement's occurrences fall, and what a channel allows.

No session, no HTTP. Times of the plan are wall-clock times (naive ``datetime``) in the
campaign's IANA zone: a spot "every weekday at 07:30" stays at 07:30 on both sides of a
daylight-saving change. They become UTC only to say when they are due
(:func:`local_to_utc`). The same plan always expands to the same occurrences, so the delivery
side can expand a window again and find nothing new (an occurrence is identified by its
placement and its ``local_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrulestr

__all__ = [
    "MAX_OCCURRENCES",
    "OccurrenceTime",
    "allowed_day",
    "check_rrule",
    "check_timezone",
    "daypart",
    "parse_times",
    "radio_reach",
    "expand",
    "in_quiet_hours",
    "local_to_utc",
    "next_allowed",
    "relative_time",
    "rolling_week_excess",
    "weekday_names",
]

# A placement may produce at most this many occurrences in its whole life (20 a day for 1.5 years).
MAX_OCCURRENCES = 10_000
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_REFUSED_FREQ = ("SECONDLY", "MINUTELY")


@dataclass(frozen=True, slots=True)
class OccurrenceTime:
    local_at: datetime  # naive, the campaign's wall clock
    due_at: datetime  # aware, UTC


def check_timezone(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return f"{name!r} is not a time zone: use an IANA name such as America/Port-au-Prince."
    if name not in available_timezones():
        return f"{name!r} is not a time zone: use an IANA name such as America/Port-au-Prince."
    return None


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall-clock time ``local`` in ``tz``.

    A time that does not exist (the hour skipped when clocks go forward) moves forward by the
    gap, as a person would read it ("02:30" becomes 03:30); a time that happens twice (clocks go
    back) is the first of the two.
    """
    aware = local.replace(tzinfo=tz, fold=0)
    utc = aware.astimezone(timezone.utc)
    if utc.astimezone(tz).replace(tzinfo=None) != local:  # in the gap: round-trips to another time
        later = local.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
        gap = later - utc
        utc = (local + abs(gap)).replace(tzinfo=tz).astimezone(timezone.utc) if gap else utc
    return utc


def check_rrule(rule: str, starts_local: datetime | None) -> str | None:
    """Why ``rule`` is not a usable RFC 5545 recurrence, or None."""
    text = (rule or "").strip()
    if not text:
        return "Give a recurrence rule (for example FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR)."
    if starts_local is None:
        return "A recurring placement needs a first date and time."
    upper = text.upper()
    if upper.startswith("RRULE:"):
        upper = upper[6:]
    if "DTSTART" in upper:
        return "Leave DTSTART out of the rule: the first date and time is its own field."
    if any(f"FREQ={freq}" in upper for freq in _REFUSED_FREQ):
        return "Repeat at most hourly: minute or second recurrences are not campaign schedules."
    if "FREQ=" not in upper:
        return "The rule needs FREQ (DAILY, WEEKLY, MONTHLY...)."
    try:
        rrulestr(upper, dtstart=starts_local)
    except (ValueError, TypeError, KeyError) as err:
        return f"The recurrence rule cannot be read: {err}."
    return None


def _rule_iter(rule: str, starts_local: datetime) -> Iterator[datetime]:
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    return iter(rrulestr(text.upper(), dtstart=starts_local.replace(tzinfo=None)))


def expand(
    *,
    starts_local: datetime | None,
    rrule: str = "",
    tz: ZoneInfo,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    last_local: datetime | None = None,
    limit: int = MAX_OCCURRENCES,
) -> list[OccurrenceTime]:
    """The occurrences of a once or recurring timing, in order.

    Parameters
    ----------
    starts_local : datetime
        The first wall-clock time (naive) in ``tz``.
    rrule : str
        An RFC 5545 RRULE (without DTSTART); empty for a single occurrence.
    tz : ZoneInfo
        The campaign's zone.
    window_start, window_end : datetime, optional
        Aware UTC bounds (inclusive start, exclusive end) of the due times wanted.
    last_local : datetime, optional
        No occurrence after this wall-clock time (the end of the campaign's last day).
    limit : int
        At most this many occurrences are returned.
    """
    if starts_local is None:
        return []
    starts_local = starts_local.replace(tzinfo=None, microsecond=0)
    times: Iterable[datetime] = _rule_iter(rrule, starts_local) if rrule.strip() else (starts_local,)
    out: list[OccurrenceTime] = []
    for seen, local in enumerate(times):
        if seen >= MAX_OCCURRENCES or len(out) >= limit:
            break
        if last_local is not None and local > last_local:
            break
        due = local_to_utc(local, tz)
        if window_end is not None and due >= window_end:
            break
        if window_start is not None and due < window_start:
            continue
        out.append(OccurrenceTime(local, due))
    return out


def relative_time(anchor: datetime | date, *, offset_days: int, at_time: time | None, tz: ZoneInfo) -> OccurrenceTime:
    """A contact's occurrence of a relative timing: ``offset_days`` after ``anchor`` at ``at_time``.

    ``anchor`` is a date, or an aware instant read as a date in the campaign's zone.
    """
    if isinstance(anchor, datetime):
        day = (anchor.astimezone(tz) if anchor.tzinfo else anchor).date()
    else:
        day = anchor
    local = datetime.combine(day + timedelta(days=offset_days), at_time or time(9, 0))
    return OccurrenceTime(local, local_to_utc(local, tz))


def in_quiet_hours(moment: time, quiet_start: time | None, quiet_end: time | None) -> bool:
    """Whether the wall-clock ``moment`` falls in quiet hours [start, end), which may wrap midnight."""
    if quiet_start is None or quiet_end is None or quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= moment < quiet_end
    return moment >= quiet_start or moment < quiet_end


def allowed_day(day: date, send_days: Sequence[int]) -> bool:
    """Whether the channel sends on ``day`` (``send_days``: 0 is Monday ... 6 is Sunday)."""
    return day.weekday() in set(send_days)


def next_allowed(local: datetime, *, quiet_start: time | None, quiet_end: time | None,
                 send_days: Sequence[int]) -> datetime | None:
    """The first wall-clock time at or after ``local`` outside quiet hours on a sending day.

    None when the channel has no sending day at all.
    """
    days = set(send_days)
    if not days:
        return None
    candidate = local
    for _ in range(8 * 24 * 4):  # at most eight days, in quarter hours
        if candidate.weekday() in days and not in_quiet_hours(candidate.time(), quiet_start, quiet_end):
            return candidate
        if candidate.weekday() not in days:
            candidate = datetime.combine(candidate.date() + timedelta(days=1), time(0, 0))
        elif quiet_end is not None:
            end = datetime.combine(candidate.date(), quiet_end)
            candidate = end if end > candidate else end + timedelta(days=1)
        else:  # pragma: no cover - in_quiet_hours is False without an end
            candidate += timedelta(minutes=15)
    return None


def rolling_week_excess(times: Sequence[datetime], cap: int | None) -> int:
    """How many of ``times`` (one contact's messages, any order) go beyond ``cap`` per rolling 7 days.

    A message counts against the cap when ``cap`` messages were already sent in the seven days
    before it (not counting the ones that were themselves over the cap: they would be skipped).
    """
    if cap is None:
        return 0
    kept: list[datetime] = []
    excess = 0
    window = timedelta(days=7)
    start = 0
    for moment in sorted(times):
        while start < len(kept) and kept[start] <= moment - window:
            start += 1
        if len(kept) - start >= cap:
            excess += 1
        else:
            kept.append(moment)
    return excess


def weekday_names(send_days: Sequence[int]) -> list[str]:
    return [WEEKDAYS[d] for d in sorted(set(send_days)) if 0 <= d < 7]


def parse_times(values: Sequence[str] | None) -> tuple[time, ...]:
    """Times of day given as "07:30" strings, sorted and deduplicated; ValueError names a bad one."""
    out: set[time] = set()
    for value in values or ():
        text = str(value).strip()
        try:
            moment = time.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text[:10]}' is not a time of day: use 24-hour HH:MM, e.g. 07:30.") from None
        out.add(moment.replace(second=0, microsecond=0))
    return tuple(sorted(out))


#: Radio dayparts, as stations sell them: (name, first hour, hour after the last).
DAYPARTS = (("Night", 0, 5), ("Morning drive", 5, 10), ("Midday", 10, 14), ("Afternoon", 14, 18), ("Evening", 18, 24))


def daypart(moment: time) -> str:
    return next(name for name, lo, hi in DAYPARTS if lo <= moment.hour < hi)


@dataclass(frozen=True, slots=True)
class RadioReach:
    airings: int
    listeners: int
    rating: float
    impressions: float  # listeners x rating x airings (gross impressions)
    reach: float  # listeners who hear the spot at least once
    frequency: float  # average number of times a reached listener hears it


def radio_reach(*, airings: int, listeners: int, rating: float = 0.15) -> RadioReach:
    """Estimated reach and frequency of ``airings`` spots on a station with ``listeners`` listeners.

    The binomial model: each airing is heard by a share ``rating`` of the station's listeners,
    independently, so a listener hears at least one of n airings with probability
    1 - (1 - rating)^n. It ignores that habits repeat (the same people listen at 07:00 every
    day), so it overstates reach and understates frequency for many airings in one daypart; use
    the station's own audience survey when it has one.

    References
    ----------
    Rust, R. T. and Klompmaker, J. E. (1981). Improving the estimation procedure for the beta
    binomial TV exposure model. Journal of Marketing Research 18(4), 442-448 (the binomial as the
    base case of exposure distribution models).
    """
    if airings < 0 or listeners < 0 or not 0 <= rating <= 1:
        raise ValueError("airings and listeners must be >= 0 and rating in [0, 1]")
    impressions = listeners * rating * airings
    reach = listeners * (1 - (1 - rating) ** airings)
    return RadioReach(airings, listeners, rating, impressions, reach, impressions / reach if reach else 0.0)
