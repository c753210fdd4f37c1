"""Weather: bundled climates, EPW parsing and validation, interpolation, wet bulb."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import psychrolib
import pytest

from envs.weather import CLIMATE_CLASSES, CLIMATES, DATA_DIR, EPWError, load_climate, load_epw, wet_bulb_c


def plain_epw_lines(name: str = "chicago") -> list[str]:
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


def test_bundled_climates_load_and_span_the_classes() -> None:
    assert len(CLIMATES) >= 6
    assert {c.climate_class for c in CLIMATES.values()} == set(CLIMATE_CLASSES)
    for name in CLIMATES:
        w = load_climate(name)
        assert w.dry_bulb_c.shape == (8760,)
        assert np.all(np.isfinite(w.wet_bulb_c)) and np.all(w.wet_bulb_c <= w.dry_bulb_c)
        assert 80_000 < w.pressure_pa.mean() < 103_000
    assert load_climate("miami").wet_bulb_c.mean() > load_climate("chicago").wet_bulb_c.mean() + 8.0
    assert load_climate("phoenix").dry_bulb_c.max() > 40.0
    assert load_climate("denver").elevation_m > 1500.0


def test_wet_bulb_agrees_with_psychrolib() -> None:
    psychrolib.SetUnitSystem(psychrolib.SI)
    t, rh = np.meshgrid(np.arange(-10.0, 46.0, 5.0), np.arange(10.0, 96.0, 5.0))
    ours = wet_bulb_c(t, rh)
    ref = np.vectorize(lambda a, b: psychrolib.GetTWetBulbFromRelHum(a, b / 100.0, 101325.0))(t, rh)
    assert ours.shape == t.shape
    above_freezing = t >= 0.0
    # Stull's published error band is -1 to +0.65 K; below 0 °C psychrolib returns the
    # ice-bulb temperature, a different quantity, so the band is wider there.
    assert np.max(np.abs(ours - ref)[above_freezing]) < 1.05
    assert np.max(np.abs(ours - ref)[~above_freezing]) < 2.0
    assert np.all(ours <= t)


def test_interpolation_hits_rows_midpoints_and_wraps() -> None:
    w = load_climate("sterling")
    s = w.sample(np.array([3600.0, 7200.0, 5400.0]))
    assert s.dry_bulb_c[0] == w.dry_bulb_c[0] and s.dry_bulb_c[1] == w.dry_bulb_c[1]
    assert s.dry_bulb_c[2] == pytest.approx((w.dry_bulb_c[0] + w.dry_bulb_c[1]) / 2)
    year = 8760 * 3600.0
    assert w.sample(np.array([0.0, year])).dry_bulb_c[0] == w.dry_bulb_c[-1]
    assert w.sample(np.array([1800.0])).dry_bulb_c[0] == pytest.approx((w.dry_bulb_c[-1] + w.dry_bulb_c[0]) / 2)
    assert w.sample(np.zeros((3, 4))).wet_bulb_c.shape == (3, 4)


def test_user_plain_epw_loads_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, plain_epw_lines(), "my-site.epw")
    w = load_climate(str(path))
    assert w.name == "my-site" and "Chicago" in w.location
    np.testing.assert_array_equal(w.dry_bulb_c, load_climate("chicago").dry_bulb_c)


def test_isolated_missing_values_are_repaired(tmp_path: Path) -> None:
    lines = plain_epw_lines()
    lines[100] = set_field(lines[100], 6, "99.9")
    w = load_epw(write(tmp_path, lines))
    ref = load_climate("chicago").dry_bulb_c
    assert w.dry_bulb_c[92] == pytest.approx((ref[91] + ref[93]) / 2)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda ls: ls[1:], "line 1: expected the 'LOCATION' header"),
        (lambda ls: ls[:5000], "expected 8760 hourly rows"),
        (lambda ls: [*ls[:20], set_field(ls[20], 6, "warm"), *ls[21:]], "line 21: field 'dry_bulb_c' = 'warm'"),
        (lambda ls: [*ls[:20], set_field(ls[20], 6, "145.0"), *ls[21:]],
         r"line 21: field 'dry_bulb_c' = 145 °C is outside the allowed range -70..70 °C"),
        (lambda ls: [*ls[:20], set_field(ls[20], 3, "7"), *ls[21:]], "line 21: field 'hour' = 7, expected 13"),
        (lambda ls: ls[:8] + [set_field(x, 8, "999") for x in ls[8:1000]] + ls[1000:],
         "field 'rel_humidity_pct' is missing in"),
        (lambda ls: ls[:8] + [set_field(x, 9, "999999") for x in ls[8:60]] + ls[60:],
         "field 'pressure_pa' is missing for 52 consecutive hours"),
        (lambda ls: [set_field(ls[0], 6, "north"), *ls[1:]], "LOCATION field 'latitude' = 'north'"),
    ],
)
def test_bad_epw_files_are_refused_naming_line_and_field(tmp_path: Path, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, mutate(plain_epw_lines()))
    with pytest.raises(EPWError, match=match) as err:
        load_epw(path)
    assert "bad.epw" in str(err.value)


def test_unknown_climate_lists_the_known_ones() -> None:
    with pytest.raises(EPWError, match=r"unknown climate 'atlantis'.*chicago"):
        load_climate("atlantis")
    with pytest.raises(EPWError, match="not found"):
        load_climate("/nonexistent/site.epw")
