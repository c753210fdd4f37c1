"""Weather: bundled climates, EPW parsing and validation, interpolation, wet bulb."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psychrolib
import pytest

from coolpilot.envs.weather import (
    CLIMATE_CLASSES,
    CLIMATES,
    DATA_DIR,
    EPWError,
    Weather,
    load_climate,
    load_epw,
    wet_bulb_c,
)

HEADER = 8
"""EPW header lines: data row i (0-based) is list index HEADER + i and file line HEADER + 1 + i."""
DRY_BULB, DEW_POINT, RH, PRESSURE = 6, 7, 8, 9
"""0-based EPW columns."""

STULL_VS_PSYCHROLIB_K = 1.01
"""Stull's published error band is −1…+0.65 K against his own reference; against psychrolib
(ASHRAE Fundamentals 2017) the largest difference on the grid, outside the cold-dry corner,
is 1.006 K at 45 °C and 28 % RH."""
STULL_COLD_DRY_K = 2.0
"""Below 0 °C and under 25 % RH (the corner Stull 2011 excludes: cold and dry together;
psychrolib's bulb is ice there) the difference reaches 1.9 K at −10 °C and 12 % RH."""
STULL_BELOW_DEW_POINT_K = 2.0
"""The wet bulb is never below the dew point physically; Stull's error lets it dip 1.6 K below in winter."""


def epw_lines(name: str = "chicago") -> list[str]:
    with gzip.open(DATA_DIR / CLIMATES[name].file, "rt", encoding="latin-1") as fh:
        return fh.read().splitlines()


def write(tmp_path: Path, lines: list[str], name: str = "bad.epw") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


def set_field(line: str, col: int, value: str) -> str:
    parts = line.split(",")
    parts[col] = value
    return ",".join(parts)


def set_rows(lines: list[str], rows: range, col: int, value: str) -> list[str]:
    """Copy of ``lines`` with column ``col`` of data rows ``rows`` (0-based) set to ``value``."""
    out = list(lines)
    for i in rows:
        out[HEADER + i] = set_field(out[HEADER + i], col, value)
    return out


def test_catalogue_matches_the_bundled_files() -> None:
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    for name, info in CLIMATES.items():
        raw = gzip.decompress((DATA_DIR / info.file).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == info.sha256, f"{info.file} is not {info.source_file}"
        assert info.climate_class in CLIMATE_CLASSES
        assert f"`{name}`" in readme and info.sha256 in readme and info.source_file in readme
        assert info.wmo in raw[:200].decode("latin-1"), f"{info.file}: WMO {info.wmo} not in the LOCATION header"


@pytest.mark.parametrize("name", sorted(CLIMATES))
def test_every_bundled_climate_loads_with_plausible_values(name: str) -> None:
    w = load_climate(name)
    assert w.name == name and w.source.endswith(CLIMATES[name].file)
    for values in (w.dry_bulb_c, w.dew_point_c, w.rel_humidity_pct, w.pressure_pa, w.wet_bulb_c):
        assert values.shape == (8760,) and values.dtype == np.float64 and np.all(np.isfinite(values))
        assert not values.flags.writeable
    assert w.dry_bulb_c.min() > -40.0 and w.dry_bulb_c.max() < 50.0
    assert np.all((w.rel_humidity_pct >= 0.0) & (w.rel_humidity_pct <= 100.0))
    assert np.all(w.wet_bulb_c <= w.dry_bulb_c)
    assert np.all(w.wet_bulb_c >= w.dew_point_c - STULL_BELOW_DEW_POINT_K)
    standard_pa = 101_325.0 * (1.0 - 2.25577e-5 * w.elevation_m) ** 5.2559  # ASHRAE Fundamentals ch. 1, eq. 3
    assert w.pressure_pa.mean() == pytest.approx(standard_pa, rel=0.02)


def test_climate_classes_are_covered_and_ordered() -> None:
    assert len(CLIMATES) >= 6
    assert {c.climate_class for c in CLIMATES.values()} == set(CLIMATE_CLASSES)

    def by_class(stat: Callable[[Weather], float]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {k: [] for k in CLIMATE_CLASSES}
        for name, info in CLIMATES.items():
            out[info.climate_class].append(stat(load_climate(name)))
        return out

    wet = by_class(lambda w: float(w.wet_bulb_c.mean()))
    assert min(wet["hot-humid"]) > max(wet["temperate"]) > max(wet["cold"])
    depression = by_class(lambda w: float(np.mean(w.dry_bulb_c - w.wet_bulb_c)))
    assert min(depression["hot-dry"]) > max(v for k, vs in depression.items() if k != "hot-dry" for v in vs)
    spread = by_class(lambda w: float(w.dry_bulb_c.std()))
    assert max(spread["marine"]) < min(v for k, vs in spread.items() if k != "marine" for v in vs)


def test_wet_bulb_agrees_with_psychrolib() -> None:
    psychrolib.SetUnitSystem(psychrolib.SI)
    t, rh = np.meshgrid(np.arange(-10.0, 45.5, 2.5), np.arange(10.0, 95.5, 2.5))
    ours = wet_bulb_c(t, rh)
    ref = np.vectorize(lambda a, b: psychrolib.GetTWetBulbFromRelHum(a, b / 100.0, 101_325.0))(t, rh)
    error = np.abs(ours - ref)
    cold_dry = (t < 0.0) & (rh < 25.0)
    assert ours.shape == t.shape
    assert error[~cold_dry].max() <= STULL_VS_PSYCHROLIB_K, f"{error[~cold_dry].max():.3f} K"
    assert error[cold_dry].max() <= STULL_COLD_DRY_K, f"{error[cold_dry].max():.3f} K"
    assert np.all(ours <= t)


def test_wet_bulb_clips_humidity_and_broadcasts() -> None:
    np.testing.assert_array_equal(wet_bulb_c(30.0, [0.0, 120.0]), wet_bulb_c(30.0, [5.0, 99.0]))
    assert wet_bulb_c(np.zeros((2, 1)), np.full(3, 50.0)).shape == (2, 3)
    assert wet_bulb_c(20.0, 100.0) <= 20.0


def test_interpolation_hits_rows_midpoints_and_wraps() -> None:
    w = load_climate("sterling")
    hour = 3600.0
    year = 8760 * hour
    s = w.sample(np.array([hour, 2 * hour, 1.5 * hour, 8760 * hour - hour]))
    assert s.dry_bulb_c[0] == w.dry_bulb_c[0] and s.dry_bulb_c[1] == w.dry_bulb_c[1]
    assert s.dry_bulb_c[2] == pytest.approx((w.dry_bulb_c[0] + w.dry_bulb_c[1]) / 2)
    assert s.dry_bulb_c[3] == w.dry_bulb_c[-2]
    assert s.pressure_pa[2] == pytest.approx((w.pressure_pa[0] + w.pressure_pa[1]) / 2)
    at_new_year = w.sample(np.array([0.0, year, -year, 3 * year]))
    np.testing.assert_array_equal(at_new_year.wet_bulb_c, np.full(4, w.wet_bulb_c[-1]))
    assert w.sample(np.array(0.5 * hour)).dry_bulb_c == pytest.approx((w.dry_bulb_c[-1] + w.dry_bulb_c[0]) / 2)
    assert w.sample(np.array(year - 0.5 * hour)).dry_bulb_c == pytest.approx(
        (w.dry_bulb_c[-2] + w.dry_bulb_c[-1]) / 2)
    grid = w.sample(np.arange(12.0).reshape(3, 4) * 1000.0)
    assert all(field.shape == (3, 4) and field.dtype == np.float64 for field in grid)
    with pytest.raises(ValueError, match="finite"):
        w.sample(np.array([np.nan]))


def test_user_plain_and_gzip_epw_load_by_path(tmp_path: Path) -> None:
    plain = write(tmp_path, epw_lines(), "my-site.epw")
    w = load_climate(str(plain))
    assert w.name == "my-site" and w.source == str(plain) and "Chicago" in w.location
    assert w.latitude_deg == 41.98 and w.longitude_deg == -87.92 and w.timezone_h == -6.0 and w.elevation_m == 201.0
    np.testing.assert_array_equal(w.dry_bulb_c, load_climate("chicago").dry_bulb_c)
    packed = tmp_path / "other-site.epw.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert load_climate(packed).name == "other-site"


def test_bundled_loads_are_cached() -> None:
    """Parsing speed is measured by ``benchmarks/bench_weather.py``, not asserted here."""
    assert load_climate("miami") is load_climate("miami")


def test_leap_year_drops_february_29(tmp_path: Path) -> None:
    lines = epw_lines()
    feb_28 = HEADER + (31 + 27) * 24
    feb_29 = [set_field(row, 2, "29") for row in lines[feb_28:feb_28 + 24]]
    w = load_epw(write(tmp_path, [*lines[:feb_28 + 24], *feb_29, *lines[feb_28 + 24:]], "leap.epw"))
    np.testing.assert_array_equal(w.dry_bulb_c, load_climate("chicago").dry_bulb_c)


def test_isolated_missing_values_are_repaired(tmp_path: Path) -> None:
    lines = set_rows(epw_lines(), range(92, 93), DRY_BULB, "99.9")
    lines = set_rows(lines, range(0, 3), RH, "999")
    w = load_epw(write(tmp_path, lines))
    ref = load_climate("chicago")
    assert w.dry_bulb_c[92] == pytest.approx((ref.dry_bulb_c[91] + ref.dry_bulb_c[93]) / 2)
    across_new_year = np.interp(np.arange(4.0), [-1.0, 3.0], ref.rel_humidity_pct[[-1, 3]])
    np.testing.assert_allclose(w.rel_humidity_pct[:4], across_new_year)


def drop_location(ls: list[str]) -> list[str]:
    return ls[1:]


BAD_FILES: list[tuple[str, Callable[[list[str]], list[str]], str]] = [
    ("missing-location", drop_location, r"line 1: expected the 'LOCATION' header"),
    ("bad-latitude", lambda ls: [set_field(ls[0], 6, "north"), *ls[1:]],
     r"line 1: LOCATION field 'latitude' = 'north' is not a number"),
    ("missing-header-line", lambda ls: [ls[0], *ls[2:]], r"line 8: expected the 'DATA PERIODS' header"),
    ("sub-hourly", lambda ls: [*ls[:7], set_field(ls[7], 2, "4"), *ls[8:]], r"line 8: .*'records per hour' = '4'"),
    ("too-few-rows", lambda ls: ls[:HEADER + 5000],
     r"line 5008: the file ends after 5000 hourly data rows, expected 8760"),
    ("short-row", lambda ls: [*ls[:20], ",".join(ls[20].split(",")[:5]), *ls[21:]],
     r"line 21: 5 comma-separated fields"),
    ("non-numeric", lambda ls: set_rows(ls, range(12, 13), DRY_BULB, "warm"),
     r"line 21: field 'dry_bulb_c' = 'warm' is not a number \(°C\)"),
    ("hot-dry-bulb", lambda ls: set_rows(ls, range(12, 13), DRY_BULB, "145.0"),
     r"line 21: field 'dry_bulb_c' = 145.0 °C is outside the allowed range -70..70 °C"),
    ("low-pressure", lambda ls: set_rows(ls, range(12, 13), PRESSURE, "2000"),
     r"line 21: field 'pressure_pa' = 2000.0 Pa is outside the allowed range 31000..120000 Pa"),
    ("hours-out-of-order", lambda ls: set_rows(ls, range(12, 13), 3, "7"),
     r"line 21: field 'hour' = 7, expected 13 \(month 1, day 1, hour 13"),
    ("days-out-of-order", lambda ls: set_rows(ls, range(24, 48), 2, "3"), r"line 33: field 'day' = 3, expected 2"),
    ("dew-point-above-dry-bulb", lambda ls: set_rows(ls, range(12, 13), DEW_POINT, "40.0"),
     r"line 21: field 'dew_point_c' = 40.0 °C is above the dry bulb .* by more than the allowed 0.5 K"),
    ("too-many-missing", lambda ls: set_rows(ls, range(0, 992), RH, "999"),
     r"line 9: field 'rel_humidity_pct' is missing \(999 %\) in 11.3% of hours"),
    ("long-missing-run", lambda ls: set_rows(ls, range(100, 152), PRESSURE, "999999"),
     r"line 109: field 'pressure_pa' is missing \(999999 Pa\) for 52 consecutive hours, at most 24"),
]


@pytest.mark.parametrize(("mutate", "match"), [pytest.param(m, r, id=i) for i, m, r in BAD_FILES])
def test_bad_epw_files_are_refused_naming_file_line_and_field(
    tmp_path: Path, mutate: Callable[[list[str]], list[str]], match: str,
) -> None:
    path = write(tmp_path, mutate(epw_lines()))
    with pytest.raises(EPWError, match=match) as err:
        load_epw(path)
    assert str(err.value).startswith(f"{path} line ")


def test_unknown_climate_lists_the_known_ones() -> None:
    with pytest.raises(EPWError, match=r"unknown climate 'atlantis'.*chicago.*miami"):
        load_climate("atlantis")
    with pytest.raises(EPWError, match=r"site\.epw: weather file not found"):
        load_climate("/nonexistent/site.epw")
