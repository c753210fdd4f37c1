"""On-site PV: solar position, decomposition, transposition, the array's yield, and grid power in the envs."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from coolpilot.controller.policies import RuleBasedPolicy
from coolpilot.envs.config import FacilityConfig, FacilityConfigError, PvConfig, facility_from_mapping, load_facility
from coolpilot.envs.env import DataCenterEnv
from coolpilot.envs.objectives import HOURS_PER_YEAR, GridSignals, Objective
from coolpilot.envs.pv import (
    PvWeatherError,
    ac_power_kw,
    annual_yield_kwh_per_kwp,
    cell_temperature_c,
    dc_power_kw,
    erbs_dhi_w_m2,
    extraterrestrial_normal_w_m2,
    grid_power_kw,
    poa_irradiance_w_m2,
    pv_output,
    solar_position,
)
from coolpilot.envs.simulation import simulate
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.envs.vector import DataCenterVectorEnv
from coolpilot.envs.weather import CLIMATES, DATA_DIR, load_climate, load_epw

EXAMPLE = Path(__file__).parents[2] / "examples" / "facilities" / "modern-hall-tes-pv.yaml"
ARRAY = PvConfig(dc_capacity_kwp=1.0)
"""1 kWp with every default: PVWatts v5's losses and inverter, 25° south, Faiman, Hay–Davies."""


def _t(day_of_year: int, hour: float) -> float:
    """Seconds since 1 January 00:00 of day ``day_of_year`` (1-based) at local standard ``hour``."""
    return (day_of_year - 1) * SECONDS_PER_DAY + hour * SECONDS_PER_HOUR


# -- solar position ------------------------------------------------------------------------------

def test_solar_position_matches_nrel_spa_published_example() -> None:
    """Reda & Andreas (2008), NREL/TP-560-34302, table A4.1: 17 October 2003 12:30:30 MST (UTC−7), Golden CO.

    SPA gives topocentric zenith 50.11162° and azimuth 194.34024° (refraction at 820 mbar, 11 °C; the NOAA
    equations assume sea level, 0.004° apart here). A typical year read in the default year 2005 moves by
    the leap-cycle drift only (< 0.25° in October, when the declination changes fastest).
    """
    t = _t(290, 12.0 + 30.5 / 60.0)
    sun = solar_position(t, 39.742476, -105.1786, -7.0, year=2003)
    assert float(sun.zenith_deg) == pytest.approx(50.11162, abs=0.02)
    assert float(sun.azimuth_deg) == pytest.approx(194.34024, abs=0.02)
    typical = solar_position(t, 39.742476, -105.1786, -7.0)
    assert 0.0 < abs(float(typical.zenith_deg) - float(sun.zenith_deg)) < 0.25


def test_declination_and_equation_of_time_at_their_published_extremes() -> None:
    """The almanac's values (NOAA solar calculator): declination +23.44° at the June solstice, −23.44° at the
    December one, ≈ 0 at the equinoxes; equation of time about −14.2 min around 11 February and +16.4 min
    around 3 November."""
    noon = lambda day: _t(day, 12.0)  # noqa: E731 (a one-line helper)
    assert float(solar_position(noon(172), 0.0, 0.0, 0.0).declination_deg) == pytest.approx(23.44, abs=0.02)
    assert float(solar_position(noon(355), 0.0, 0.0, 0.0).declination_deg) == pytest.approx(-23.44, abs=0.02)
    assert abs(float(solar_position(noon(79), 0.0, 0.0, 0.0).declination_deg)) < 0.5
    assert float(solar_position(noon(42), 0.0, 0.0, 0.0).equation_of_time_min) == pytest.approx(-14.2, abs=0.2)
    assert float(solar_position(noon(307), 0.0, 0.0, 0.0).equation_of_time_min) == pytest.approx(16.4, abs=0.2)


def test_sun_is_due_south_at_solar_noon_and_overhead_at_the_subsolar_point() -> None:
    # On the time zone's meridian, solar noon is 12:00 minus the equation of time.
    day = 172
    eot = float(solar_position(_t(day, 12.0), 40.0, -105.0, -7.0).equation_of_time_min)
    sun = solar_position(_t(day, 12.0 - eot / 60.0), 40.0, -105.0, -7.0)
    assert float(sun.azimuth_deg) == pytest.approx(180.0, abs=0.1)
    assert float(sun.zenith_deg) == pytest.approx(40.0 - 23.44, abs=0.05)
    assert float(solar_position(_t(day, 12.0 - eot / 60.0), 23.44, 0.0, 0.0).zenith_deg) < 0.1


# -- decomposition and transposition --------------------------------------------------------------

def test_erbs_splits_global_into_closing_beam_and_diffuse() -> None:
    zenith = np.array([20.0, 20.0, 20.0, 60.0, 88.0])
    i0 = np.full(5, 1366.1)
    ghi = np.array([100.0, 600.0, 1000.0, 400.0, 30.0])
    dhi, dni = erbs_dhi_w_m2(ghi, zenith, i0)
    assert np.all(dhi <= ghi + 1e-9) and np.all(dni >= 0.0)
    closure = dni * np.cos(np.radians(zenith)) + dhi
    np.testing.assert_allclose(closure[:4], ghi[:4], rtol=1e-12, err_msg="GHI = DNI·cos z + DHI (W/m²)")
    assert dhi[4] == ghi[4] and dni[4] == 0.0  # beyond 87° all diffuse
    assert dhi[0] / ghi[0] > 0.9 and dhi[2] / ghi[2] < 0.25  # overcast mostly diffuse, clear mostly beam


@pytest.mark.parametrize("climate", sorted(CLIMATES))
def test_plane_of_array_is_zero_at_night_and_below_extraterrestrial(climate: str) -> None:
    w = load_climate(climate)
    t = (np.arange(HOURS_PER_YEAR) + 0.5) * SECONDS_PER_HOUR
    out = pv_output(w, ARRAY, t)
    night = out.zenith_deg >= 90.0
    assert night.mean() == pytest.approx(0.5, abs=0.05)
    assert np.all(out.poa_w_m2[night] == 0.0) and np.all(out.ac_kw[night] == 0.0)
    i0 = extraterrestrial_normal_w_m2(t, w.timezone_h)
    assert np.all(out.poa_w_m2 <= i0), f"{climate}: POA above extraterrestrial (W/m²)"
    assert np.all(out.ac_kw >= 0.0) and out.ac_kw.max() <= ARRAY.ac_capacity_kw + 1e-12


@pytest.mark.parametrize("climate", ["phoenix", "chicago", "miami"])
def test_erbs_recovers_the_files_beam_and_diffuse_over_a_year(climate: str) -> None:
    """Splitting the file's GHI by Erbs gives the annual POA of the file's own DNI/DHI within 2 %."""
    w = load_climate(climate)
    t = (np.arange(HOURS_PER_YEAR) + 0.5) * SECONDS_PER_HOUR
    sun = solar_position(t, w.latitude_deg, w.longitude_deg, w.timezone_h)
    i0 = extraterrestrial_normal_w_m2(t, w.timezone_h)
    assert w.ghi_w_m2 is not None and w.dni_w_m2 is not None and w.dhi_w_m2 is not None
    ghi = np.where(sun.zenith_deg < 90.0, w.ghi_w_m2, 0.0)
    dhi_e, dni_e = erbs_dhi_w_m2(ghi, sun.zenith_deg, i0)
    from_erbs = poa_irradiance_w_m2(ghi, dni_e, dhi_e, sun, i0, 25.0, 180.0, 0.2).total.sum()
    from_file = poa_irradiance_w_m2(ghi, w.dni_w_m2, w.dhi_w_m2, sun, i0, 25.0, 180.0, 0.2).total.sum()
    assert from_erbs / from_file == pytest.approx(1.0, abs=0.02)


def test_isotropic_and_hay_davies_agree_on_a_horizontal_plane_and_differ_tilted() -> None:
    w = load_climate("denver")
    t = (np.arange(24 * 7) + 0.5) * SECONDS_PER_HOUR + 170 * SECONDS_PER_DAY
    sun = solar_position(t, w.latitude_deg, w.longitude_deg, w.timezone_h)
    i0 = extraterrestrial_normal_w_m2(t, w.timezone_h)
    irr = w.sample_irradiance(t)
    assert irr.dni_w_m2 is not None and irr.dhi_w_m2 is not None
    flat = [poa_irradiance_w_m2(irr.ghi_w_m2, irr.dni_w_m2, irr.dhi_w_m2, sun, i0, 0.0, 180.0, 0.2, m).total
            for m in ("hay_davies", "isotropic")]
    np.testing.assert_allclose(flat[0], flat[1], atol=1e-9)
    up = sun.zenith_deg < 85.0  # horizontal POA is GHI while the sun is well up
    np.testing.assert_allclose(flat[0][up], (irr.dni_w_m2 * np.cos(np.radians(sun.zenith_deg)) + irr.dhi_w_m2)[up],
                               atol=1e-6)
    tilted = [poa_irradiance_w_m2(irr.ghi_w_m2, irr.dni_w_m2, irr.dhi_w_m2, sun, i0, 40.0, 180.0, 0.2, m).sky_diffuse
              for m in ("hay_davies", "isotropic")]
    assert tilted[0].sum() != pytest.approx(tilted[1].sum(), rel=0.01)


def test_a_clear_summer_day_peaks_at_solar_noon_and_rises_and_falls_smoothly() -> None:
    w = load_climate("phoenix")
    assert w.ghi_w_m2 is not None
    days = w.ghi_w_m2.reshape(365, 24).sum(axis=1)
    day = 150 + int(np.argmax(days[150:200]))  # the clearest day of early summer
    t = day * SECONDS_PER_DAY + np.arange(0.0, SECONDS_PER_DAY, 300.0)
    out = pv_output(w, PvConfig(dc_capacity_kwp=1.0, dc_ac_ratio=0.8), t)  # no clipping: the shape shows
    eot = float(solar_position(t[144], w.latitude_deg, w.longitude_deg, w.timezone_h).equation_of_time_min)
    solar_noon_h = 12.0 - (4.0 * (w.longitude_deg - 15.0 * w.timezone_h) + eot) / 60.0
    peak_h = t[int(np.argmax(out.ac_kw))] % SECONDS_PER_DAY / SECONDS_PER_HOUR
    assert abs(peak_h - solar_noon_h) < 0.75, f"peak at {peak_h:.2f} h, solar noon {solar_noon_h:.2f} h"
    morning = out.ac_kw[(t % SECONDS_PER_DAY) < (solar_noon_h - 1.0) * SECONDS_PER_HOUR]
    assert np.all(np.diff(morning) >= -0.02), "output falls in the morning of a clear day (kW)"
    assert out.ac_kw.sum() * 300.0 / SECONDS_PER_HOUR > 5.0  # a clear Phoenix June day: > 5 kWh/kWp (AC)


# -- the array -------------------------------------------------------------------------------------

PVLIB_YIELD_KWH_PER_KWP = {
    "chicago": 1265, "denver": 1553, "las-vegas": 1756, "miami": 1433, "oklahoma-city": 1535, "phoenix": 1748,
    "san-francisco": 1530, "sterling": 1322,
}
"""Reference: pvlib 0.16.1's PVWatts chain (SPA position, haydavies, iam.ashrae, faiman, pvwatts_dc and
pvwatts inverter, the same defaults) on each bundled TMY3's hourly data at mid-hour; coolpilot samples every
15 minutes from interpolated irradiance. Not a dependency: the numbers were computed once and are kept here."""


@pytest.mark.parametrize("climate", sorted(CLIMATES))
def test_annual_yield_per_kwp_of_the_bundled_us_climates(climate: str) -> None:
    """PVWatts-style yields for fixed arrays in the US run about 1,200–1,900 kWh/kWp; within 2 % of pvlib's."""
    y = annual_yield_kwh_per_kwp(load_climate(climate), ARRAY)
    assert 1200.0 <= y <= 1900.0
    assert y == pytest.approx(PVLIB_YIELD_KWH_PER_KWP[climate], rel=0.02)


def test_sunny_climates_yield_more_than_cloudy_ones() -> None:
    y = {c: annual_yield_kwh_per_kwp(load_climate(c), ARRAY) for c in ("phoenix", "denver", "chicago")}
    assert y["phoenix"] > y["denver"] > y["chicago"]


def test_temperature_derates_power_by_its_coefficient() -> None:
    pv = PvConfig(dc_capacity_kwp=100.0)
    cold, hot = dc_power_kw(np.array([1000.0, 1000.0]), np.array([25.0, 65.0]), pv)
    assert cold == pytest.approx(100.0 * (1.0 - pv.system_losses_frac))  # nameplate at STC, less losses
    assert hot / cold == pytest.approx(1.0 + pv.temp_coeff_pct_per_k / 100.0 * 40.0, rel=1e-12)  # 16 % at −0.40 %/K
    faiman = cell_temperature_c(np.array([800.0, 800.0]), np.array([20.0, 20.0]), np.array([1.0, 5.0]), pv)
    assert faiman[0] > faiman[1] > 20.0  # wind cools the cells
    noct = PvConfig(dc_capacity_kwp=1.0, cell_temperature_model="noct", noct_c=45.0)
    assert float(cell_temperature_c(np.array([800.0]), np.array([20.0]), None, noct)[0]) == pytest.approx(45.0)


def test_inverter_clips_at_its_ac_rating_and_loses_little_at_part_load() -> None:
    pv = PvConfig(dc_capacity_kwp=120.0, dc_ac_ratio=1.2)
    ac = ac_power_kw(np.array([0.0, 500.0, 1000.0, 1200.0]), np.full(4, 25.0), pv)
    assert ac[0] == 0.0 and ac[3] == pytest.approx(100.0) and ac[2] <= 100.0
    dc_half = 120.0 * 0.5 * (1.0 - pv.system_losses_frac)
    assert 0.94 < ac[1] / dc_half < 0.97  # PVWatts curve near its nominal 96 %


# -- bad inputs -------------------------------------------------------------------------------------

_HALL = {"name": "t", "floor_area_m2": 200, "zones": [{"name": "z", "it_design_kw": 100}],
         "chillers": {"count": 2, "capacity_kw": 200}}


@pytest.mark.parametrize(("pv", "match"), [
    ({"dc_capacity_kwp": -5.0}, r"pv\.dc_capacity_kwp.*kWp"),
    ({"dc_capacity_kwp": 50.0, "tilt_deg": 95.0}, r"pv\.tilt_deg.*°"),
    ({"dc_capacity_kwp": 50.0, "azimuth_deg": 400.0}, r"pv\.azimuth_deg"),
    ({"dc_capacity_kwp": 50.0, "module_efficiency": 0.6}, r"pv\.module_efficiency"),
    ({"dc_capacity_kwp": 50.0, "temp_coeff_pct_per_k": 0.4}, r"pv\.temp_coeff_pct_per_k.*%/K"),
    ({"dc_capacity_kwp": 50.0, "inverter_efficiency": 1.2}, r"pv\.inverter_efficiency"),
    ({"dc_capacity_kwp": 50.0, "system_losses_frac": 0.9}, r"pv\.system_losses_frac"),
    ({"dc_capacity_kwp": 50.0, "cell_temperature_model": "sandia"}, r"pv\.cell_temperature_model"),
    ({"dc_capacity_kwp": 50.0, "transposition": "perez"}, r"pv\.transposition"),
    ({"dc_capacity_kwp": 50.0, "orientation": "south"}, r"pv\.orientation"),
])
def test_bad_pv_inputs_are_refused_with_field_and_unit(pv: dict[str, object], match: str) -> None:
    with pytest.raises(FacilityConfigError, match=match):
        facility_from_mapping({**_HALL, "pv": pv})


def test_the_pv_block_needs_an_array() -> None:
    with pytest.raises(FacilityConfigError, match=r"blocks \['pv'\]"):
        facility_from_mapping({**_HALL, "blocks": ["chiller_staging", "chw_dp_reset", "pv"]})
    cfg = facility_from_mapping({**_HALL, "pv": {"dc_capacity_kwp": 50.0},
                                 "blocks": ["chiller_staging", "chw_dp_reset", "pv"]})
    assert cfg.contract.point_names[-1] == "pv_power_kw"
    assert "pv" not in facility_from_mapping({**_HALL, "pv": {"dc_capacity_kwp": 50.0}}).contract.blocks


def test_synthetic_climates_are_refused_for_pv_with_the_reason() -> None:
    with pytest.raises(PvWeatherError, match=r"'yueyang'.*synthetic.*normals"):
        pv_output(load_climate("yueyang"), ARRAY, np.zeros(1))


def test_an_epw_without_solar_fields_loads_and_pv_says_why(tmp_path: Path) -> None:
    lines = gzip.decompress((DATA_DIR / "chicago.epw.gz").read_bytes()).decode("latin-1").splitlines()
    rows = [",".join(line.split(",")[:10]) for line in lines[8:]]  # a file cut after the pressure field
    path = tmp_path / "cut.epw"
    path.write_text("\n".join(lines[:8] + rows) + "\n", encoding="latin-1")
    w = load_epw(path)
    assert w.ghi_w_m2 is None and w.wind_speed_m_s is None
    np.testing.assert_array_equal(w.dry_bulb_c, load_climate("chicago").dry_bulb_c)
    with pytest.raises(PvWeatherError, match=r"'cut'.*ghi_w_m2.*column 14"):
        pv_output(w, ARRAY, np.zeros(1))
    with pytest.raises(PvWeatherError, match="wind speed"):
        pv_output(replace(load_climate("chicago"), wind_speed_m_s=None), ARRAY, np.zeros(1))


def test_weather_reads_the_epw_solar_fields_and_keeps_their_hourly_energy() -> None:
    w = load_climate("phoenix")
    raw = gzip.decompress((DATA_DIR / "phoenix.epw.gz").read_bytes()).decode("latin-1").splitlines()[8:]
    ghi = np.array([float(r.split(",")[13]) for r in raw])
    wind = np.array([float(r.split(",")[21]) for r in raw])
    assert w.ghi_w_m2 is not None and w.wind_speed_m_s is not None
    np.testing.assert_array_equal(w.ghi_w_m2, ghi)
    np.testing.assert_array_equal(w.wind_speed_m_s, wind)
    t = np.arange(0.0, 365.0 * SECONDS_PER_DAY, 300.0)
    sampled = w.sample_irradiance(t).ghi_w_m2.sum() * 300.0 / SECONDS_PER_HOUR
    assert sampled == pytest.approx(ghi.sum(), rel=0.002)  # centred interpolation keeps the year's Wh/m²


# -- grid power in the simulator and the envs -----------------------------------------------------------

def test_grid_power_is_facility_minus_pv_curtailed_or_exported() -> None:
    facility, pv = np.array([100.0, 100.0, 100.0]), np.array([0.0, 60.0, 150.0])
    grid, curtailed = grid_power_kw(facility, pv, False)
    np.testing.assert_array_equal(grid, [100.0, 40.0, 0.0])
    np.testing.assert_array_equal(curtailed, [0.0, 0.0, 50.0])
    grid, curtailed = grid_power_kw(facility, pv, np.array([True, True, True]))
    np.testing.assert_array_equal(grid, [100.0, 40.0, -50.0])
    assert not curtailed.any()


def _with_pv(cfg: FacilityConfig, **pv: object) -> FacilityConfig:
    return cfg.model_copy(update={"pv": cfg.pv.model_copy(update=pv)})


def test_simulate_records_pv_and_grid_power_and_leaves_the_plant_alone() -> None:
    cfg = load_facility(EXAMPLE)
    no_pv = _with_pv(cfg, dc_capacity_kwp=0.0)
    w = load_climate("phoenix")
    with_pv = simulate(cfg, w, RuleBasedPolicy(), days=2, start_day=170)
    without = simulate(no_pv, w, RuleBasedPolicy(), days=2, start_day=170)
    s = with_pv.series
    np.testing.assert_array_equal(s["facility_kw"], without.series["facility_kw"])  # no thermal effect
    assert "pv_kw" not in without.series
    np.testing.assert_allclose(s["grid_kw"], s["facility_kw"] - s["pv_kw"], rtol=0, atol=1e-9)
    assert s["pv_kw"].max() > 0.5 * cfg.pv.ac_capacity_kw and np.all(s["grid_kw"] > 0.0)
    t = with_pv.series["time_s"]
    np.testing.assert_array_equal(s["pv_kw"], pv_output(w, cfg.pv, t).ac_kw)
    oversized = simulate(_with_pv(cfg, dc_capacity_kwp=4000.0), w, RuleBasedPolicy(), days=1, start_day=170)
    o = oversized.series
    assert o["pv_curtailed_kw"].max() > 0.0 and o["grid_kw"].min() == 0.0
    np.testing.assert_allclose(o["grid_kw"] - o["pv_curtailed_kw"], o["facility_kw"] - o["pv_kw"], atol=1e-9)


def test_exogenous_batch_computes_no_pv_for_facilities_without_an_array() -> None:
    env = DataCenterEnv("modern-hall-tes", "phoenix")
    env.reset(seed=0)
    assert env._exo is not None and env._exo.pv_kw is None and env._pricing.pv_export is None


def test_single_and_vector_env_agree_bit_for_bit_with_pv_pricing_grid_power() -> None:
    base = load_facility(EXAMPLE)
    cfg = base.model_copy(update={"blocks": [*base.contract.blocks[1:], "grid_signals", "pv"]})
    hours = np.arange(HOURS_PER_YEAR) % 24
    signals = GridSignals(np.where((hours >= 8) & (hours < 22), 120.0, 40.0), np.full(HOURS_PER_YEAR, 0.6),
                          demand_charge_per_kw_month=12.0)
    objective = Objective(kind="cost", wear_kwh_per_move=1.0)
    kwargs = dict(facility=cfg, climate="phoenix", episode_days=1, dt_s=900, objective=objective, signals=signals,
                  start_day=170)
    vec = DataCenterVectorEnv(2, **kwargs)  # type: ignore[arg-type]
    singles = [DataCenterEnv(**kwargs) for _ in range(2)]  # type: ignore[arg-type]
    obs_v, _ = vec.reset(seed=11)
    obs_s = [env.reset(seed=11 + i)[0] for i, env in enumerate(singles)]
    assert obs_v.tobytes() == np.array(obs_s).tobytes()
    n_act = len(cfg.contract.setpoints)
    i_pv = cfg.contract.point_names.index("pv_power_kw")
    rng = np.random.default_rng(3)
    pv_seen = []
    for _ in range(110):  # past the episode's end: autoreset on both sides
        actions = rng.uniform(-1, 1, (2, n_act)).astype(np.float32)
        obs_v, rew_v, _, _, info_v = vec.step(actions)
        for i, env in enumerate(singles):
            if env._k >= env.n_steps:
                obs = env.reset()[0]
            else:
                obs, rew, _, _, info = env.step(actions[i])
                assert rew == rew_v[i] and info["cost"] == info_v["cost"][i] and info["pv_kw"] == info_v["pv_kw"][i]
                # Cost is priced on grid power: the hour's price on (facility − PV) plus the demand charge.
                grid_kwh = (info["facility_kw"] - info["pv_kw"]) * 900.0 / SECONDS_PER_HOUR
                price = signals.sample(np.array([env._exo.time_s[env._k]]))[0, 0]
                assert info["cost"] >= grid_kwh * price / 1000.0 - 1e-9
                pv_seen.append(info["pv_kw"])
            assert obs.tobytes() == obs_v[i].tobytes()
        assert np.all(obs_v[:, i_pv] >= 0.0)
    assert max(pv_seen) > 0.3 * cfg.pv.ac_capacity_kw and min(pv_seen) == 0.0


def test_pv_lowers_grid_cost_and_carbon_but_not_pue() -> None:
    from coolpilot.evaluation.kpis import compute_whatif_kpis
    from coolpilot.evaluation.scenarios import Carbon, Tariff

    cfg = load_facility(EXAMPLE)
    w = load_climate("phoenix")
    runs = {name: simulate(c, w, RuleBasedPolicy(), days=2, start_day=170)
            for name, c in (("pv", cfg), ("none", _with_pv(cfg, dc_capacity_kwp=0.0)))}
    k = {name: compute_whatif_kpis(r, tariff=Tariff(demand_charge_per_kw_month=10.0), carbon=Carbon())
         for name, r in runs.items()}
    h = 300.0 / SECONDS_PER_HOUR
    pv_mwh = runs["pv"].series["pv_kw"].sum() * h / 1000.0
    assert k["pv"].pue == k["none"].pue and k["pv"].facility_energy_mwh == k["none"].facility_energy_mwh
    assert k["pv"].pv_energy_mwh == pytest.approx(pv_mwh) and k["none"].pv_energy_mwh == 0.0
    assert k["pv"].grid_energy_mwh == pytest.approx(k["pv"].facility_energy_mwh - pv_mwh)
    assert k["none"].grid_energy_mwh == pytest.approx(k["none"].facility_energy_mwh)
    assert k["pv"].pv_self_consumption_pct == pytest.approx(100.0) and k["none"].pv_self_consumption_pct is None
    assert k["pv"].pv_share_of_facility_pct == pytest.approx(100.0 * pv_mwh / k["pv"].facility_energy_mwh)
    assert k["pv"].energy_cost == pytest.approx(k["none"].energy_cost * k["pv"].grid_energy_mwh
                                                / k["none"].grid_energy_mwh)  # a flat price
    assert k["pv"].carbon_location_t_co2e < k["none"].carbon_location_t_co2e
    assert k["pv"].peak_grid_power_kw <= k["none"].peak_grid_power_kw
    assert k["pv"].peak_facility_power_kw == k["none"].peak_facility_power_kw


def test_the_report_shows_pv_rows_only_for_a_scenario_with_pv() -> None:
    from coolpilot.evaluation.i18n import translator
    from coolpilot.evaluation.kpis import compute_whatif_kpis
    from coolpilot.evaluation.report import PV_KPI_ROWS, _kpi_table
    from coolpilot.evaluation.scenarios import Carbon, Tariff

    cfg = load_facility(EXAMPLE)
    w = load_climate("chicago")
    kpis = {name: compute_whatif_kpis(simulate(c, w, RuleBasedPolicy(), days=1, start_day=180), tariff=Tariff(),
                                      carbon=Carbon()).as_dict()
            for name, c in (("pv", cfg), ("none", _with_pv(cfg, dc_capacity_kwp=0.0)))}
    for lang in ("en", "zh-CN"):
        t = translator(lang)
        mixed = _kpi_table({"runs": {name: {"kpis": k} for name, k in kpis.items()}}, t)
        plain = _kpi_table({"runs": {"none": {"kpis": kpis["none"]}}}, t)
        assert len(mixed["rows"]) == len(plain["rows"]) + len(PV_KPI_ROWS)
        pv_row = mixed["rows"][len(plain["rows"])]
        assert pv_row["unit"] == "MWh" and pv_row["cells"][1]["text"] == "0.0" and pv_row["cells"][0]["text"] != "0.0"
        self_use = mixed["rows"][len(plain["rows"]) + 1]
        assert self_use["cells"][1]["text"] == "—"  # no PV: no self-consumption
