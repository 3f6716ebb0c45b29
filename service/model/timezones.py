"""Stream time zones: an IANA name (`Europe/Berlin`) or a fixed UTC offset (`+03:00`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_FIXED_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<hours>\d{2}):(?P<minutes>\d{2})$")


class UnknownTimeZoneError(ValueError):
    pass


def parse_time_zone(value: str) -> tzinfo:
    """Turn a stream's `time_zone` setting into a tzinfo, or say what would be valid."""
    if value in ("UTC", "Z"):
        return UTC
    fixed = _FIXED_OFFSET.match(value)
    if fixed:
        hours, minutes = int(fixed["hours"]), int(fixed["minutes"])
        if hours > 14 or minutes > 59:
            raise UnknownTimeZoneError(f"offset {value!r} is outside -14:00..+14:00")
        offset = timedelta(hours=hours, minutes=minutes)
        return timezone(-offset if fixed["sign"] == "-" else offset)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        # from None: zoneinfo's own error ends in "No module named 'tzdata'", which misleads.
        raise UnknownTimeZoneError(
            f"{value!r} is neither an IANA time zone name (such as 'Europe/Berlin') "
            "nor a fixed offset (such as '+03:00')"
        ) from None


def local_date(received_at_ms: int, zone: tzinfo) -> date:
    """The calendar day, in `zone`, of an instant given in Unix milliseconds."""
    return datetime.fromtimestamp(received_at_ms / 1000, tz=UTC).astimezone(zone).date()
