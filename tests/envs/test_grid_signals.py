"""Grid signals: BOPTEST's tariff archetypes, a demand charge in a peak window, the synthetic carbon of a
solar-heavy grid, and day-ahead forecasts at BOPTEST's uncertainty levels (seeded, sized as specified)."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coolpilot.envs import grid
from coolpilot.envs.config import load_facility
from coolpilot.envs.env import DataCenterEnv
from coolpilot.envs.grid import (
    GridDataError,
    archetype_prices_per_mwh,
    climate_ghi_w_m2,
    read_epw_ghi,
    solar_carbon_profile,
    tariff_archetype,
)
from coolpilot.envs.objectives import (
    AHEAD_H,
    FORECAST_HORIZON_H,
    HOURS_PER_YEAR,
    ForecastLevel,
    GridSignals,
    Objective,
    StepCost,
    forecast_error_mean,
    forecast_error_std,
)
from coolpilot.envs.simulation import simulate
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.envs.vector import DataCenterVectorEnv
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import grid_signals, monthly_demand_cost, scenario_signals, step_prices
from coolpilot.evaluation.scenarios import Carbon, ScenarioFileError, Tariff, scenario_set_from_mapping

DAYS = HOURS_PER_YEAR // 24
SUMMER = [5, 6, 7, 8]  # months June-September, 0-based
REPO = Path(__file__).resolve().parents[2]


def _months_of_days() -> np.ndarray:
    return np.repeat(np.arange(12), [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


# ---------------------------------------------------------------------------------------------- archetypes


def test_constant_is_boptests_comed_bes_price_every_hour() -> None:
    prices = archetype_prices_per_mwh("constant")
    assert prices.shape == (HOURS_PER_YEAR,) and np.all(prices == 94.0)
    assert sum(tariff_archetype("constant").components_per_mwh.values()) == pytest.approx(94.0)


def test_dynamic_is_a_three_period_day_night_tariff_with_a_summer_season() -> None:
    day = archetype_prices_per_mwh("dynamic").reshape(DAYS, 24)
    months = _months_of_days()
    summer, winter = day[months == 6][0], day[months == 0][0]
    for season_day, (off, peak, super_peak) in ((summer, (58.26, 71.10, 169.69)), (winter, (58.71, 69.06, 159.90))):
        assert season_day[:6] == pytest.approx([off] * 6) and season_day[22:] == pytest.approx([off] * 2)
        assert season_day[6:14] == pytest.approx([peak] * 8) and season_day[19:22] == pytest.approx([peak] * 3)
        assert season_day[14:19] == pytest.approx([super_peak] * 5)
    for m in range(12):  # every day of a month alike, weekends included, as the testcase's prices.csv
        block = day[months == m]
        assert np.all(block == block[0])
        assert (m in SUMMER) == bool(np.allclose(block[0], summer))
    assert summer.max() / summer.min() == pytest.approx(169.69 / 58.26)  # about 2.9:1, a day/night spread


def test_highly_dynamic_is_an_hourly_spot_like_year_from_the_shipped_file() -> None:
    prices = archetype_prices_per_mwh("highly_dynamic")
    day = prices.reshape(DAYS, 24)
    assert prices.mean() == pytest.approx(63.79, abs=0.01) and prices.min() == 34.67 and prices.max() == 185.27
    assert np.mean([len(np.unique(d)) for d in day]) > 20  # nearly every hour its own price
    assert np.all(day.std(axis=1) > 0.0)
    profile = day.mean(axis=0)
    assert profile[17:20].mean() > profile[2:5].mean() + 10.0  # evening dearer than the small hours
    assert day.mean(axis=1).std() > 3.0  # and the days differ from each other


def test_a_changed_price_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = tariff_archetype("highly_dynamic")
    text = (grid.GRID_DATA_DIR / str(a.hourly_csv)).read_text()
    (tmp_path / str(a.hourly_csv)).write_text(text.replace("58.07", "58.08", 1))
    monkeypatch.setattr(grid, "GRID_DATA_DIR", tmp_path)
    with pytest.raises(GridDataError, match="sha256 differs"):
        grid._hourly_file_prices(a)


@pytest.mark.parametrize("name", ["constant", "dynamic", "highly_dynamic"])
def test_a_scenario_price_scales_the_archetype_and_the_kpis_price_by_it(name: str) -> None:
    t = (np.arange(HOURS_PER_YEAR) + 0.5) * SECONDS_PER_HOUR
    own = Tariff.model_validate({"archetype": name})
    assert own.price_per_mwh == 94.0 and own.currency == "USD" and "BOPTEST" in (own.archetype_source or "")
    assert np.array_equal(step_prices(own, t), archetype_prices_per_mwh(name))
    cny = Tariff.model_validate({"archetype": name, "price_per_mwh": 650.0, "currency": "CNY"})
    assert step_prices(cny, t) == pytest.approx(archetype_prices_per_mwh(name) * 650.0 / 94.0)
    if name == "constant":
        assert np.all(step_prices(cny, t) == pytest.approx(650.0))


# ---------------------------------------------------------------------------------------------- demand charge


def _window_tariff(**extra: Any) -> Tariff:
    return Tariff.model_validate({"archetype": "dynamic", "demand_charge_per_kw_month": 12.0,
                                  "demand_window": {"start_hour": 12, "end_hour": 20}, **extra})


def test_a_demand_charge_in_a_peak_window_bills_only_its_hours_peak() -> None:
    dt = 300.0
    t = (np.arange(2 * 288) + 0.5) * dt  # two days from Monday 1 January
    power = np.full(t.size, 1000.0)
    power[(t >= 3 * SECONDS_PER_HOUR) & (t < 4 * SECONDS_PER_HOUR)] = 3000.0  # a night spike, outside the window
    power[(t >= 36 * SECONDS_PER_HOUR) & (t < 36.25 * SECONDS_PER_HOUR)] = 1500.0  # Tuesday 12:00, a 15-min block
    windowed, every_hour = _window_tariff(), Tariff(demand_charge_per_kw_month=12.0)
    from coolpilot.evaluation.kpis import demand_counted

    assert monthly_demand_cost(power, t, dt, 12.0, demand_counted(windowed, t)) == pytest.approx(12.0 * 1500.0)
    assert monthly_demand_cost(power, t, dt, 12.0, demand_counted(every_hour, t)) == pytest.approx(12.0 * 3000.0)
    signals = grid_signals(windowed, Carbon())
    assert signals.demand_hours is not None and signals.demand_hours.sum() == 8 * 261  # 12-20 h on weekdays
    meter = StepCost(Objective(kind="cost"), signals, np.array([1000.0]), dt)
    meter.reset(np.array([0]), np.array([0.0]))
    demand_cost = 0.0
    for k in range(t.size):
        _, _, c = meter.price(power[k:k + 1], np.array([k * dt]), np.zeros(1), np.zeros(1))
        demand_cost += float(c[0]) - power[k] * dt / 3.6e6 * signals.price_per_mwh[int(k * dt // 3600)]
    assert meter.peak_kw[0] == pytest.approx(1500.0)  # the night spike never entered the register
    assert demand_cost == pytest.approx(12.0 * (1500.0 - 1000.0))  # the rise over the window's first demand


# ---------------------------------------------------------------------------------------------- synthetic carbon


def test_the_bundled_epw_irradiance_is_read_hour_by_hour() -> None:
    ghi = read_epw_ghi(load_climate("chicago").source)
    day = ghi.reshape(DAYS, 24)
    assert ghi.shape == (HOURS_PER_YEAR,) and np.all(day[:, :4] == 0.0) and np.all(day[:, 21:] == 0.0)
    assert day[151:243, 11:14].mean() > 500.0 and 120.0 < ghi.mean() < 200.0
    assert np.array_equal(climate_ghi_w_m2("chicago"), ghi)


def test_a_synthetic_climate_without_irradiance_gets_its_stations_clear_sky() -> None:
    ghi = climate_ghi_w_m2("changde")  # generated from monthly normals: no irradiance
    day = ghi.reshape(DAYS, 24)
    assert np.all(day[:, :5] == 0.0) and np.all(day[:, 20:] == 0.0)
    assert day[172, 12] > day[355, 12] > 400.0  # midsummer noon above midwinter noon at 29° N
    assert 900.0 < ghi.max() < 1098.0


@pytest.mark.parametrize("climate", ["chicago", "phoenix", "hongkong"])
def test_a_solar_heavy_grid_has_clean_middays_and_keeps_the_factors_year_mean(climate: str) -> None:
    profile = solar_carbon_profile(climate_ghi_w_m2(climate), 0.5703, 0.3)
    day = profile.reshape(DAYS, 24)
    assert profile.mean() == pytest.approx(0.5703) and profile.min() >= 0.0
    assert day[:, 11:14].mean() < 0.4 * day[:, 0:4].mean()  # noon well below the night
    assert np.all(day[:, 0] == pytest.approx(profile.max()))  # nights: the non-solar mix alone
    lighter = solar_carbon_profile(climate_ghi_w_m2(climate), 0.5703, 0.1).reshape(DAYS, 24)
    assert day[:, 12].mean() < lighter[:, 12].mean()  # more solar, cleaner noon


def test_a_scenario_selects_the_solar_heavy_grid_by_its_share(tmp_path: Path) -> None:
    data = {"policies": ["rule-based"], "scenarios": [
        {"name": "solar", "climate": "phoenix", "period": {"start_day": 180, "days": 1},
         "carbon": {"region": "guangdong", "solar_share": 0.3}}]}
    sc = scenario_set_from_mapping(data, "grid.yaml", tmp_path).scenarios[0]
    assert sc.carbon_profile is not None and len(sc.carbon_profile) == HOURS_PER_YEAR
    assert np.mean(sc.carbon_profile) == pytest.approx(0.4403)  # the region's factor is the year's mean
    assert np.allclose(sc.carbon_profile, solar_carbon_profile(climate_ghi_w_m2("phoenix"), 0.4403, 0.3))
    with pytest.raises(ValueError, match="give the climate"):
        grid_signals(Tariff(), sc.carbon)
    assert np.array_equal(grid_signals(Tariff(), sc.carbon, climate="phoenix").carbon_t_per_mwh,
                          scenario_signals(sc).carbon_t_per_mwh)


# ---------------------------------------------------------------------------------------------- points = signals


class _Recorder:
    """Legacy fixed setpoints that keep every set of points it was shown."""

    name = "recorder"

    def __init__(self, setpoints: dict[str, float]) -> None:
        self.setpoints, self.seen = setpoints, []  # type: ignore[var-annotated]

    def reset(self) -> None:
        self.seen.clear()

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        self.seen.append(dict(points))
        return dict(self.setpoints)


def test_the_price_and_carbon_points_a_policy_reads_are_the_scenarios_signals(tmp_path: Path) -> None:
    data = {"policies": ["rule-based"], "scenarios": [
        {"name": "grid", "climate": "chicago", "period": {"start_day": 190, "days": 2}, "step_s": 900,
         "tariff": {"archetype": "highly_dynamic", "demand_charge_per_kw_month": 10.0},
         "carbon": {"solar_share": 0.3}}]}
    sc = scenario_set_from_mapping(data, "grid.yaml", tmp_path).scenarios[0]
    cfg = load_facility("modern-hall")
    cfg = cfg.model_copy(update={"blocks": [*cfg.contract.blocks[1:], "grid_signals"]})
    policy = _Recorder({"supply_air_temp_c": 22.0, "crah_fan_speed_frac": 0.8, "chw_supply_temp_c": 10.0,
                        "condenser_water_temp_c": 26.0})
    signals = scenario_signals(sc)
    simulate(cfg, load_climate(sc.climate), policy, days=sc.days, start_day=sc.start_day, dt_s=sc.step_s,
             signals=signals)
    t = sc.start_day * SECONDS_PER_DAY + np.arange(len(policy.seen)) * sc.step_s  # the points' times
    hour_mid = (np.floor(t / SECONDS_PER_HOUR) + 0.5) * SECONDS_PER_HOUR
    price = np.array([p["grid_price_per_mwh"] for p in policy.seen])
    carbon = np.array([p["grid_carbon_t_per_mwh"] for p in policy.seen])
    ahead = np.array([p["grid_price_ahead_per_mwh"] for p in policy.seen])
    assert np.array_equal(price, step_prices(sc.tariff, hour_mid))
    assert np.array_equal(carbon, np.asarray(sc.carbon_profile)[(hour_mid // SECONDS_PER_HOUR).astype(int)])
    hours = (t // SECONDS_PER_HOUR).astype(int)
    expected = [np.mean(signals.price_per_mwh[h + 1:h + 1 + AHEAD_H]) for h in hours]  # perfect at 'none'
    assert ahead == pytest.approx(expected, rel=1e-12)
    peaks = np.array([p["facility_peak_kw"] for p in policy.seen])
    assert np.all(np.diff(peaks[1:]) >= 0.0) and peaks[-1] > 0.0


# ---------------------------------------------------------------------------------------------- forecasts


def _flat(level: ForecastLevel, seed: int = 0, value: float = 100.0) -> GridSignals:
    return GridSignals(np.full(HOURS_PER_YEAR, value), np.full(HOURS_PER_YEAR, 0.5), price_forecast=level,
                       carbon_forecast=level, forecast_seed=seed)


def test_none_forecasts_the_signal_itself() -> None:
    rng = np.random.default_rng(0)
    signals = GridSignals(rng.uniform(20, 200, HOURS_PER_YEAR), rng.uniform(0.1, 0.9, HOURS_PER_YEAR))
    price, carbon = signals.forecast(100 * SECONDS_PER_HOUR + 10.0, FORECAST_HORIZON_H)
    assert np.array_equal(price, signals.price_per_mwh[101:101 + FORECAST_HORIZON_H])
    assert np.array_equal(carbon, signals.carbon_t_per_mwh[101:101 + FORECAST_HORIZON_H])
    wrapped, _ = signals.forecast((HOURS_PER_YEAR - 1) * SECONDS_PER_HOUR, 3)  # the year wraps
    assert np.array_equal(wrapped, signals.price_per_mwh[:3])


def test_forecast_errors_are_seeded_and_reproducible() -> None:
    a, b, c = _flat("medium", 7), _flat("medium", 7), _flat("medium", 8)
    t = 4000 * SECONDS_PER_HOUR
    assert a.forecast(t, 48)[0].tobytes() == b.forecast(t, 48)[0].tobytes()
    assert a.sample(np.arange(0, 1e7, 900.0)).tobytes() == b.sample(np.arange(0, 1e7, 900.0)).tobytes()
    assert not np.array_equal(a.forecast(t, 48)[0], c.forecast(t, 48)[0])
    assert not np.array_equal(a.forecast(t, 48)[0] / 100.0, a.forecast(t, 48)[1] / 0.5)  # price, carbon: own draws
    assert np.array_equal(a.forecast(t + 3599.0, 48)[0], a.forecast(t, 48)[0])  # issued once an hour
    first = a.forecast(t, 24)[0]
    assert np.array_equal(first, a.forecast(t, 48)[0][:24])  # one forecast, any horizon
    assert a.sample(np.array([t]))[0, 1] == pytest.approx(first[:AHEAD_H].mean())  # the ahead point averages it


@pytest.mark.parametrize("level", ["low", "medium", "high"])
def test_forecast_error_size_per_level_is_boptests_ar1_as_relative_error(level: ForecastLevel) -> None:
    signals = _flat(level, seed=11)
    rows = np.array([signals.forecast(k * SECONDS_PER_HOUR, FORECAST_HORIZON_H)[0] for k in range(HOURS_PER_YEAR)])
    rel = (100.0 - rows) / 100.0  # (X − X̂)/X for each issue hour (rows) and lead (columns)
    for lead in (1, 6, 24, 48):
        std, mean = forecast_error_std(level, lead), forecast_error_mean(level, lead)
        assert rel[:, lead - 1].std() == pytest.approx(std, rel=0.05)
        assert abs(rel[:, lead - 1].mean() - mean) < 4.0 * std / np.sqrt(HOURS_PER_YEAR)
    lag1 = np.corrcoef(rel[:, 23], rel[:, 24])[0, 1]  # AR(1) along the horizon: corr ≈ F·σ_24/σ_25
    f = {"low": 0.92, "medium": 0.93, "high": 0.95}[level]
    assert lag1 == pytest.approx(f * forecast_error_std(level, 24) / forecast_error_std(level, 25), abs=0.03)


def test_forecast_error_levels_grow_as_specified() -> None:
    at24 = {level: forecast_error_std(level, 24) for level in ("none", "low", "medium", "high")}
    assert at24["none"] == 0.0
    assert at24["low"] == pytest.approx(0.051, abs=0.001) and at24["medium"] == pytest.approx(0.081, abs=0.001)
    assert at24["high"] == pytest.approx(0.109, abs=0.001)
    assert forecast_error_mean("high", 24) == pytest.approx(-0.019, abs=0.001)  # BOPTEST's drift: biased high
    assert forecast_error_std("low", 1) == pytest.approx(0.03)  # K0 = 0.6 K at 5 %/K
    assert all(forecast_error_std(lv, 1) < forecast_error_std(lv, 48) for lv in ("low", "medium", "high"))


def test_single_and_vector_env_read_the_same_uncertain_forecast_bit_for_bit() -> None:
    cfg = load_facility("modern-hall")
    cfg = cfg.model_copy(update={"blocks": [*cfg.contract.blocks[1:], "grid_signals"]})
    tariff = Tariff.model_validate({"archetype": "highly_dynamic", "forecast_uncertainty": "high"})
    signals = grid_signals(tariff, Carbon(solar_share=0.3, forecast_uncertainty="medium"), climate="miami", seed=5)
    kwargs: dict[str, Any] = dict(facility=cfg, climate="miami", episode_days=1, dt_s=900,
                                  objective=Objective(kind="cost"), signals=signals)
    vec = DataCenterVectorEnv(2, **kwargs)
    singles = [DataCenterEnv(**kwargs) for _ in range(2)]
    obs_v, _ = vec.reset(seed=3)
    obs_s = [env.reset(seed=3 + i)[0] for i, env in enumerate(singles)]
    assert obs_v.tobytes() == np.array(obs_s).tobytes()
    ahead = cfg.contract.point_names.index("grid_price_ahead_per_mwh")
    rng = np.random.default_rng(2)
    for _ in range(40):
        actions = rng.uniform(-1, 1, (2, len(cfg.contract.setpoints))).astype(np.float32)
        obs_v = vec.step(actions)[0]
        for i, env in enumerate(singles):
            assert env.step(actions[i])[0].tobytes() == obs_v[i].tobytes()
    perfect = grid_signals(Tariff.model_validate({"archetype": "highly_dynamic"}), Carbon(solar_share=0.3),
                           climate="miami")
    assert perfect.price_per_mwh.tobytes() == signals.price_per_mwh.tobytes()  # what is paid: the tariff's prices
    hours = np.arange(0.0, 1e6, 3600.0)
    assert not np.allclose(perfect.sample(hours)[:, 1], signals.sample(hours)[:, 1])  # what is told: the forecast
    for i, env in enumerate(singles):  # told: the forecast issued at the step's hour
        now_s = env._exo.time_s[env._k : env._k + 1]  # type: ignore[union-attr]
        assert obs_v[i, ahead] == np.float32(signals.sample(now_s)[0, 1])


# ---------------------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"price_forecast": "extreme"}, "GridSignals.price_forecast = 'extreme': use one of none, low, medium, high"),
    ({"carbon_forecast": "Low"}, "GridSignals.carbon_forecast = 'Low': use one of none, low, medium, high"),
    ({"forecast_seed": -1}, "GridSignals.forecast_seed = -1: an integer in 0..2^63"),
    ({"forecast_seed": 1.5}, "GridSignals.forecast_seed = 1.5: an integer"),
    ({"demand_hours": np.ones(24, dtype=bool)}, "GridSignals.demand_hours: (24,) bool values; give one boolean per"),
])
def test_bad_signal_settings_are_refused_naming_field_value_and_range(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        GridSignals(np.ones(HOURS_PER_YEAR), np.ones(HOURS_PER_YEAR), **kwargs)
    assert message in str(err.value)


@pytest.mark.parametrize("horizon", [0, 49, 2.5, True])
def test_a_forecast_beyond_48_hours_is_refused(horizon: Any) -> None:
    with pytest.raises(ValueError, match=r"horizon_h = .* h: an integer in 1\.\.48 h"):
        _flat("low").forecast(0.0, horizon)


@pytest.mark.parametrize(("ghi", "share", "mean", "message"), [
    (np.ones(HOURS_PER_YEAR), 0.0, 0.5, r"solar_share = 0.0: must be in \(0, 1\]"),
    (np.ones(HOURS_PER_YEAR), 1.2, 0.5, r"solar_share = 1.2: must be in \(0, 1\]"),
    (np.ones(HOURS_PER_YEAR), 0.3, 2.5, r"mean_t_per_mwh = 2.5 t CO2/MWh: must be in 0..2 t CO2/MWh"),
    (np.zeros(HOURS_PER_YEAR), 0.3, 0.5, "8760 finite values ≥ 0 W/m², some above 0"),
    (np.ones(24), 0.3, 0.5, "8760 finite values"),
])
def test_bad_synthetic_carbon_inputs_are_refused(ghi: np.ndarray, share: float, mean: float, message: str) -> None:
    with pytest.raises(GridDataError, match=message):
        solar_carbon_profile(ghi, mean, share)


def test_a_bad_epw_irradiance_is_refused_naming_line_field_value_unit_and_range(tmp_path: Path) -> None:
    good = gzip.decompress((REPO / "envs/data/weather/chicago.epw.gz").read_bytes()).decode("latin-1").splitlines()
    lines = list(good)
    row = lines[8 + 4000].split(",")
    row[13] = "2000"
    lines[8 + 4000] = ",".join(row)
    path = tmp_path / "bad.epw"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(GridDataError, match=r"bad.epw line 4009: field 'global horizontal radiation' = 2000 Wh/m² is "
                                            r"outside the allowed range 0..1500 Wh/m²"):
        read_epw_ghi(path)
    path.write_text("\n".join(good[:5000]) + "\n", encoding="latin-1")
    with pytest.raises(GridDataError, match="4992 hourly rows"):
        read_epw_ghi(path)


def _scenario_error(tmp_path: Path, **fields: Any) -> str:
    data = {"policies": ["rule-based"], "scenarios": [{"name": "s", "period": {"start_day": 190, "days": 1},
                                                       **fields}]}
    with pytest.raises(ScenarioFileError) as err:
        scenario_set_from_mapping(data, "grid.yaml", tmp_path)
    return str(err.value)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"tariff": {"archetype": "spot"}},
     ["grid.yaml", "scenarios[0].tariff.archetype' = 'spot'", "'constant', 'dynamic' or 'highly_dynamic'"]),
    ({"tariff": {"archetype": "dynamic", "template": "guangdong", "price_per_mwh": 600}},
     ["scenarios[0].tariff", "archetype 'dynamic' sets every hour's price: leave out template"]),
    ({"tariff": {"archetype": "constant", "tou_share": 0.5}}, ["leave out tou_share"]),
    ({"tariff": {"archetype": "dynamic", "price_per_mwh": -5}},
     ["scenarios[0].tariff.price_per_mwh' = -5", "currency/MWh", "0..10000"]),
    ({"tariff": {"demand_window": {"start_hour": 12, "end_hour": 20}}},
     ["scenarios[0].tariff", "give demand_charge_per_kw_month (> 0 currency/(kW·month)) too"]),
    ({"tariff": {"demand_charge_per_kw_month": 10, "demand_window": {"start_hour": 25, "end_hour": 20}}},
     ["scenarios[0].tariff.demand_window.start_hour' = 25 h", "less than 24"]),
    ({"tariff": {"forecast_uncertainty": "extreme"}},
     ["scenarios[0].tariff.forecast_uncertainty' = 'extreme'", "'none', 'low', 'medium' or 'high'"]),
    ({"carbon": {"forecast_uncertainty": 2}}, ["scenarios[0].carbon.forecast_uncertainty' = 2"]),
    ({"carbon": {"solar_share": 1.5}}, ["scenarios[0].carbon.solar_share' = 1.5", "0..1"]),
    ({"carbon": {"solar_share": 0.2, "hourly_csv": "c.csv"}}, ["solar_share and hourly_csv both set"]),
])
def test_bad_grid_fields_are_refused_with_field_value_unit_and_range(tmp_path: Path, fields: dict[str, Any],
                                                                     expected: list[str]) -> None:
    text = _scenario_error(tmp_path, **fields)
    for part in expected:
        assert part in text, text


def test_the_grid_scenario_file_validates() -> None:
    from coolpilot.evaluation.scenarios import load_scenarios

    sset = load_scenarios(REPO / "examples/scenarios/grid.yaml")
    names = {sc.name for sc in sset.scenarios}
    assert {"valley-charging", "heat-wave-peak-day", "solar-heavy-grid"} <= names
    solar = next(sc for sc in sset.scenarios if sc.name == "solar-heavy-grid")
    assert solar.carbon.solar_share is not None and solar.carbon_profile is not None
    assert all(sc.tariff.archetype == "dynamic" and sc.tariff.demand_charge_per_kw_month for sc in sset.scenarios)


def test_a_training_config_chooses_the_archetype_the_solar_grid_and_the_forecast_levels() -> None:
    from coolpilot.training.config import load_train_config
    from coolpilot.training.train import training_signals

    cfg = load_train_config(REPO / "training/configs/tiny.yaml", [
        "env.tariff={archetype: highly_dynamic, forecast_uncertainty: medium, demand_charge_per_kw_month: 12, "
        "demand_window: {start_hour: 12, end_hour: 20}}",
        "env.carbon={solar_share: 0.3, forecast_uncertainty: low}", "seed=9"])
    signals = training_signals(cfg)
    assert np.array_equal(signals.price_per_mwh, archetype_prices_per_mwh("highly_dynamic"))
    assert (signals.price_forecast, signals.carbon_forecast, signals.forecast_seed) == ("medium", "low", 9)
    assert signals.demand_hours is not None and signals.demand_hours.sum() == 8 * 261
    expected = solar_carbon_profile(climate_ghi_w_m2(cfg.training_climates[0]), 0.5703, 0.3)
    assert np.array_equal(signals.carbon_t_per_mwh, expected)
    with pytest.raises(ValueError, match=r"env.tariff.forecast_uncertainty' = 'often'"):
        load_train_config(REPO / "training/configs/tiny.yaml", ["env.tariff={forecast_uncertainty: often}"])
