"""The plant's local standard time, for what runs on the plant's clock (excitation plans, the drift monitor's twin).

Calibration, plans and the twin count time as seconds since 1 January 00:00 local standard time
(as the simulator and EPW weather do). The service's clock is unix time, which knows no time zone;
the plant's own ``time_of_day_sin``/``time_of_day_cos`` points (contract: sin and cos of 2π·hour/24
of local standard time) say what hour it is on site. So the local time is the unix clock's
seconds since 1 January (UTC) shifted by the offset those points show, within ±12 h; without
them (a site that does not map them) the unix clock's UTC is taken as the site's time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR


def local_time_s(unix_s: float, points: Mapping[str, object]) -> float:
    """Seconds since 1 January 00:00 of the plant's local standard time at unix time ``unix_s`` (s)."""
    year_start = datetime(datetime.fromtimestamp(unix_s, UTC).year, 1, 1, tzinfo=UTC).timestamp()
    utc_s = unix_s - year_start
    sin, cos = points.get("time_of_day_sin"), points.get("time_of_day_cos")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (sin, cos)):
        return utc_s
    hour = (math.atan2(float(sin), float(cos)) / (2.0 * math.pi) * 24.0) % 24.0  # type: ignore[arg-type]
    offset = hour * SECONDS_PER_HOUR - utc_s % SECONDS_PER_DAY
    offset = (offset + SECONDS_PER_DAY / 2.0) % SECONDS_PER_DAY - SECONDS_PER_DAY / 2.0
    return utc_s + offset
