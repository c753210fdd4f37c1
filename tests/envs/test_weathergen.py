"""Synthetic typical years from monthly normals: reproduce the normals, seeded, pass the EPW checks, validated."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from coolpilot.envs.weather import (
    BUNDLED_CLIMATES,
    CLIMATE_CLASSES,
    CLIMATES,
    DATA_DIR,
    SYNTHETIC_CLIMATES,
    climate_description,
    load_climate,
)
from coolpilot.envs.weathergen import (
    COEFFICIENTS,
    MONTH_OF_DAY,
    NORMALS_FILE,
    REGIONS,
    MonthlyNormals,
    NormalsError,
    anomaly_sd_k,
    circular_ar1,
    daily_from_monthly,
    dew_anomaly_sd_and_corr,
    fit_coefficients,
    load_stations,
    monthly_means,
    normals_from_weather,
    running_anomaly_sd,
    station_pressure_pa,
    station_year,
    synthetic_twin,
    synthetic_year,
)

MEAN_TOL_K = 0.1
"""A synthetic year's monthly mean dry bulb is brought to the normal by construction (K)."""
MAX_MIN_TOL_K = 1.0
"""Monthly mean daily maximum and minimum of the hourly series vs the normals (K): the hourly grid misses the
exact peak and trough by a few tenths, and a month's first and last nights fall towards the neighbour's values."""
RH_TOL_PCT = 0.5
"""Monthly mean relative humidity vs the normal (%): iterated to 0.05 % unless saturation caps it."""
VARIABILITY_TOL = 0.05
"""Each month's day-to-day dry-bulb variability vs the modelled standard deviation (relative)."""
STULL_BELOW_DEW_POINT_K = 2.0
"""As in test_weather: Stull's wet bulb may dip below the (Magnus) dew point in cold air."""
TWIN_CITIES = ("chicago", "miami")
"""A cold continental and a hot-humid TMY3 city for the fast twin checks."""


def station_normals() -> dict[str, MonthlyNormals]:
    return {name: s.normals for name, s in load_stations().items()}


def test_catalogue_lists_every_station_with_its_source() -> None:
    stations = load_stations()
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert set(stations) == set(SYNTHETIC_CLIMATES)
    assert not set(SYNTHETIC_CLIMATES) & set(CLIMATES), "a synthetic name shadows a TMY3 climate"
    assert set(BUNDLED_CLIMATES) == set(CLIMATES) | set(SYNTHETIC_CLIMATES)
    for name, s in stations.items():
        info = SYNTHETIC_CLIMATES[name]
        assert info.synthetic and not CLIMATES.get(name)
        assert s.region in REGIONS and s.climate_class in CLIMATE_CLASSES
        assert s.source and s.source_url and s.period in info.source
        assert f"`{name}`" in readme and s.wmo in readme, f"README.md does not list {name} with its WMO index"
        assert "synthetic" in climate_description(name) and s.source_short in climate_description(name)
    assert not any(info.synthetic for info in CLIMATES.values())


def test_daily_curve_keeps_monthly_means_without_steps() -> None:
    monthly = np.array([-18.0, -14.0, -4.0, 7.0, 15.0, 21.0, 23.0, 21.0, 15.0, 6.0, -5.0, -15.0])
    daily = daily_from_monthly(monthly)
    np.testing.assert_allclose(monthly_means(daily), monthly, atol=1e-9)
    steps = np.abs(np.diff(np.concatenate([daily, daily[:1]])))
    boundary = np.cumsum((31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)) % 365  # first day of each month
    assert steps[boundary - 1].max() <= steps.max() + 1e-12
    assert steps.max() < 0.6, f"largest day-to-day step of the climatology {steps.max():.2f} K"


def test_circular_ar1_has_unit_variance_its_persistence_and_wraps() -> None:
    rng = np.random.default_rng(0)
    draws = np.array([circular_ar1(rng, 0.65) for _ in range(200)])
    assert draws.var() == pytest.approx(1.0, abs=0.05)
    lag1 = np.mean(draws * np.roll(draws, -1, axis=1)) / draws.var()  # includes 31 December -> 1 January
    assert lag1 == pytest.approx(0.65, abs=0.03)
    with pytest.raises(ValueError, match="phi"):
        circular_ar1(rng, 1.0)


@pytest.mark.parametrize("name", sorted(SYNTHETIC_CLIMATES))
def test_every_synthetic_climate_loads_and_passes_the_epw_checks(name: str) -> None:
    w = load_climate(name)
    assert w is load_climate(name), "bundled climates are cached"
    assert w.name == name and w.source.startswith("synthetic (seed ") and "synthetic" in w.location
    for values in (w.dry_bulb_c, w.dew_point_c, w.rel_humidity_pct, w.pressure_pa, w.wet_bulb_c):
        assert values.shape == (8760,) and values.dtype == np.float64 and np.all(np.isfinite(values))
        assert not values.flags.writeable
    assert w.dry_bulb_c.min() > -40.0 and w.dry_bulb_c.max() < 50.0
    assert np.all((w.rel_humidity_pct >= 0.0) & (w.rel_humidity_pct <= 100.0))
    assert np.all(w.dew_point_c <= w.dry_bulb_c)
    assert np.all(w.wet_bulb_c <= w.dry_bulb_c)
    assert np.all(w.wet_bulb_c >= w.dew_point_c - STULL_BELOW_DEW_POINT_K)
    standard_pa = 101_325.0 * (1.0 - 2.25577e-5 * w.elevation_m) ** 5.2559  # ASHRAE Fundamentals ch. 1, eq. 3
    assert w.pressure_pa.mean() == pytest.approx(standard_pa, rel=0.02)


def _check_reproduces(generated: MonthlyNormals, target: MonthlyNormals, label: str) -> None:
    for field, tol, unit in (("mean_c", MEAN_TOL_K, "K"), ("max_c", MAX_MIN_TOL_K, "K"), ("min_c", MAX_MIN_TOL_K, "K"),
                             ("rh_pct", RH_TOL_PCT, "%")):
        error = np.abs(generated.array(field) - target.array(field))
        month = int(np.argmax(error))
        assert error[month] <= tol, (f"{label}: {field} of month {month + 1} is {generated.array(field)[month]:.2f}, "
                                     f"the normal {target.array(field)[month]:.2f} (tolerance {tol} {unit})")


@pytest.mark.parametrize("name", sorted(SYNTHETIC_CLIMATES))
def test_a_station_year_reproduces_its_normals(name: str) -> None:
    station = load_stations()[name]
    w = load_climate(name)
    _check_reproduces(normals_from_weather(w), station.normals, name)
    extremes = normals_from_weather(w)
    assert extremes.extreme_max_c is not None and station.normals.extreme_max_c is not None
    assert np.all(extremes.array("extreme_max_c") <= station.normals.array("extreme_max_c") + 1e-9)
    assert extremes.extreme_min_c is not None and station.normals.extreme_min_c is not None
    assert np.all(extremes.array("extreme_min_c") >= station.normals.array("extreme_min_c") - 1e-9)
    modelled = anomaly_sd_k(station.normals)
    np.testing.assert_allclose(running_anomaly_sd(np.asarray(w.dry_bulb_c)), modelled, rtol=VARIABILITY_TOL)
    dew_sd, _ = dew_anomaly_sd_and_corr(station.normals)
    np.testing.assert_allclose(running_anomaly_sd(np.asarray(w.dew_point_c)), dew_sd, rtol=VARIABILITY_TOL)


@pytest.mark.parametrize("city", TWIN_CITIES)
def test_a_tmy3_twin_reproduces_the_normals_of_its_city(city: str) -> None:
    real = load_climate(city)
    twin = synthetic_twin(real, seed=0)
    _check_reproduces(normals_from_weather(twin), normals_from_weather(real), f"{city} twin")
    assert twin.latitude_deg == real.latitude_deg and twin.elevation_m == real.elevation_m
    wet_real, wet_twin = (monthly_means(w.wet_bulb_c.reshape(365, 24).mean(axis=1)) for w in (real, twin))
    assert np.max(np.abs(wet_twin - wet_real)) < 0.8, "monthly mean wet bulb of the twin vs the real year (K)"


def test_same_normals_and_seed_give_the_same_year_bit_for_bit() -> None:
    station = load_stations()["yueyang"]
    a, b = station_year(station, seed=7), station_year(station, seed=7)
    for field in ("dry_bulb_c", "dew_point_c", "rel_humidity_pct", "wet_bulb_c", "pressure_pa"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    other = station_year(station, seed=8)
    assert not np.array_equal(a.dry_bulb_c, other.dry_bulb_c)
    np.testing.assert_allclose(monthly_means(other.dry_bulb_c.reshape(365, 24).mean(axis=1)),
                               station.normals.array("mean_c"), atol=MEAN_TOL_K)
    with pytest.raises(ValueError, match="seed"):
        station_year(station, seed=-1)


def test_afternoon_is_warmest_and_driest() -> None:
    w = load_climate("changde")
    solar = (np.arange(1, 25) + (w.longitude_deg - 15.0 * w.timezone_h) / 15.0) % 24.0
    t = w.dry_bulb_c.reshape(365, 24)
    profile = (t - t.mean(axis=1, keepdims=True)).mean(axis=0)
    assert 13.0 <= solar[int(np.argmax(profile))] <= 16.5, "the daily maximum is mid-afternoon (solar time)"
    assert 4.0 <= solar[int(np.argmin(profile))] <= 8.0, "the daily minimum is near sunrise (solar time)"
    rh = w.rel_humidity_pct.reshape(365, 24).mean(axis=0)
    assert rh[int(np.argmax(profile))] < rh[int(np.argmin(profile))] - 10.0, "RH falls in the afternoon"
    summer = (MONTH_OF_DAY >= 5) & (MONTH_OF_DAY <= 7)
    assert t[summer].max(axis=1).mean() > t[~summer].max(axis=1).mean()


def test_coefficients_are_the_fit_on_the_bundled_tmy3_years() -> None:
    fitted = asdict(fit_coefficients([load_climate(name) for name in CLIMATES]))
    for field, shipped in asdict(COEFFICIENTS).items():
        assert math.isclose(shipped, fitted[field], rel_tol=2e-3, abs_tol=5e-4), (
            f"COEFFICIENTS.{field} = {shipped} but the bundled TMY3 years fit {fitted[field]:.5g}")


def _write_normals(tmp_path: Path, mutate: dict[str, object]) -> Path:
    data = json.loads(NORMALS_FILE.read_text(encoding="utf-8"))
    station = data["stations"][0]
    for dotted, value in mutate.items():
        *parents, key = dotted.split(".")
        node = station
        for part in parents:
            node = node[part]
        node[key] = value
    path = tmp_path / "normals.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


BAD_NORMALS = [
    ("eleven-months", {"normals.rh_pct": [70] * 11}, r"stations\[0\]\.normals\.rh_pct.*11 values, one per month is 12"),
    ("humid-beyond-saturation", {"normals.rh_pct": [120] * 12},
     r"normals\.rh_pct.*month 1 = 120 is outside 5\.\.100"),
    ("minimum-above-mean", {"normals.min_c": [30.0] * 12}, r"month 1: need mean daily minimum < mean < mean daily max"),
    ("extreme-below-mean-max", {"normals.extreme_max_c": [0.0] * 12}, r"month 1: extreme maximum 0 °C is below"),
    ("unknown-region", {"region": "Atlantis"}, r"stations\[0\]\.region"),
    ("unknown-class", {"climate_class": "tropical"}, r"'tropical' is not one of hot-humid"),
    ("bad-wmo", {"wmo": "57A28"}, r"stations\[0\]\.wmo"),
]


@pytest.mark.parametrize(("mutate", "match"), [pytest.param(m, r, id=i) for i, m, r in BAD_NORMALS])
def test_bad_normals_are_refused_naming_file_and_field(tmp_path: Path, mutate: dict[str, object], match: str) -> None:
    path = _write_normals(tmp_path, mutate)
    with pytest.raises(NormalsError, match=match) as err:
        load_stations(path)
    assert str(err.value).startswith(f"{path}: ")


def test_unreadable_normals_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(NormalsError, match="cannot read"):
        load_stations(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(NormalsError, match="not valid JSON"):
        load_stations(broken)


def test_pressure_follows_elevation() -> None:
    assert station_pressure_pa(0.0) == pytest.approx(101_325.0)
    assert station_pressure_pa(1500.0) == pytest.approx(84_556.0, rel=1e-3)  # ASHRAE Fundamentals ch. 1, table 1


def test_a_synthetic_climate_is_accepted_by_name_in_a_scenario_file() -> None:
    from coolpilot.evaluation.scenarios import scenario_set_from_mapping

    data = {"policies": ["rule-based"], "scenarios": [{"climate": "yueyang", "period": "july"}]}
    sc = scenario_set_from_mapping(data)
    assert sc.scenarios[0].climate == "yueyang"


@pytest.mark.slow
@pytest.mark.parametrize("city", ["chicago", "phoenix"])
def test_full_year_twin_matches_cooling_energy_and_free_cooling_hours(city: str) -> None:
    """The README's validation on two cities (all eight: ``benchmarks/bench_weathergen.py``)."""
    from coolpilot.envs.config import load_facility
    from coolpilot.envs.kpis import compute_kpis
    from coolpilot.envs.simulation import simulate
    from coolpilot.evaluation.policies import make_policy

    cfg = load_facility("modern-hall")
    real = load_climate(city)
    kpis = [compute_kpis(simulate(cfg, w, make_policy("rule-based", cfg), days=365.0, dt_s=900.0))
            for w in (real, synthetic_twin(real, seed=0))]
    cooling = kpis[1].cooling_energy_mwh / kpis[0].cooling_energy_mwh - 1.0
    free = kpis[1].free_cooling_hours / kpis[0].free_cooling_hours - 1.0
    assert abs(cooling) <= 0.03, f"{city}: annual cooling energy {100 * cooling:+.1f} % vs the TMY3 year"
    assert abs(free) <= 0.10, f"{city}: free-cooling hours {100 * free:+.1f} % vs the TMY3 year"


def test_synthetic_year_needs_twelve_months() -> None:
    with pytest.raises(ValueError, match="12"):
        synthetic_year(MonthlyNormals(mean_c=(1.0,) * 11, max_c=(2.0,) * 12, min_c=(0.0,) * 12, rh_pct=(50.0,) * 12),
                       latitude_deg=30.0, longitude_deg=110.0, elevation_m=0.0, timezone_h=8.0, seed=0, name="x",
                       location="x", source="x")


def test_china_regions_scenario_file_loads_and_one_region_runs_a_day() -> None:
    """The regional PUE benchmark's scenario file (the full year: ``benchmarks/bench_regional_pue.py``)."""
    from dataclasses import replace

    from coolpilot.evaluation.scenarios import load_scenarios
    from coolpilot.evaluation.whatif import run_whatif

    scenario_set = load_scenarios(Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "china-regions.yaml")
    stations = load_stations()
    assert {sc.climate for sc in scenario_set.scenarios} == set(stations), "every bundled station is a region's climate"
    assert all(sc.days == 365.0 for sc in scenario_set.scenarios)
    first = scenario_set.scenarios[0]
    one_day = replace(scenario_set, scenarios=(replace(first, days=1.0, period_label="day 0 + 1 d"),))
    results = run_whatif(one_day, workers=1, progress=False)
    runs = results["scenarios"][0]["runs"]
    assert set(runs) == {"legacy", "rule-based"}
    for run in runs.values():
        assert 1.0 < run["kpis"]["pue"] < 2.0
    assert runs["rule-based"]["kpis"]["pue"] < runs["legacy"]["kpis"]["pue"]


def test_regional_table_averages_a_regions_stations_and_orders_them_beside_the_published_figures() -> None:
    """The benchmark's grouping (``benchmarks/bench_regional_pue.py``) on made-up PUEs: stations to regions, means,
    the modelled ordering from lowest to highest and the published ordering of the regions that have a figure."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_regional_pue.py"
    spec = importlib.util.spec_from_file_location("bench_regional_pue", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pue = {"dazhou": 1.30, "yueyang": 1.20, "changde": 1.30, "hongkong": 1.40}
    runs = [{"climate": name, "facility": "facilities/modern-hall.yaml", "policy": "rule-based", "pue": value}
            for name, value in pue.items()]
    rows = {r["region"]: r for r in bench.regional_table(runs)}
    assert sorted(rows) == ["Central", "South", "Southwest"]
    assert rows["Central"]["stations"] == ["yueyang", "changde"] and rows["Central"]["pue"] == pytest.approx(1.25)
    assert rows["South"]["published_2023_pue"] == 1.53 and rows["Southwest"]["published_2023_pue"] is None
    assert rows["South"]["hub"] == ["Guangdong-Hong Kong-Macao Greater Bay Area"]
    order = bench.orderings(list(rows.values()))["modern-hall / rule-based"]
    assert order == {"modelled": ["Central", "Southwest", "South"], "published_2023": ["South", "Central"]}
    assert bench.MODEL_SCOPE["represents"] and bench.MODEL_SCOPE["does_not_represent"]
