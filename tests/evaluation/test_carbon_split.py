"""Location-based carbon split into the IT load's own and the rest (the non-IT carbon a cooling controller can change),
on a solar-heavy grid whose factor follows the climate's irradiance."""

from __future__ import annotations

import numpy as np
import pytest

from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis, grid_signals, it_load_carbon
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff


def test_non_it_carbon_is_the_overhead_at_each_hours_factor() -> None:
    cfg = load_facility("modern-hall-tes")
    carbon = Carbon(grid_t_co2_per_mwh=0.5703, solar_share=0.3)
    signals = grid_signals(Tariff(), carbon, climate="phoenix")
    profile = tuple(float(v) for v in signals.carbon_t_per_mwh)
    result = simulate(cfg, load_climate("phoenix"), make_policy("rule-based", cfg), days=2, start_day=180,
                      signals=signals)
    k = compute_whatif_kpis(result, tariff=Tariff(), carbon=carbon, carbon_profile=profile)
    s, h = result.series, result.dt_s / 3600.0
    hour = np.floor((s["time_s"] - 0.5 * result.dt_s) / 3600.0).astype(int) % 8760
    factor = np.asarray(profile)[hour]
    it = it_load_carbon(result, carbon, profile)
    assert it == pytest.approx(float((s["it_power_kw"] * h / 1000.0 * factor).sum()), rel=1e-12)
    non_it = k.carbon_location_t_co2e - it
    assert non_it == pytest.approx(float(((s["facility_kw"] - s["it_power_kw"]) * h / 1000.0 * factor).sum()),
                                   rel=1e-9)
    assert 0.0 < non_it < 0.3 * it
    # The solar-heavy grid is cleanest at midday: the same overhead costs less carbon there than at night.
    assert factor[(hour % 24) == 12].mean() < 0.5 * factor[(hour % 24) == 0].mean()
    # A constant factor: the IT energy times it.
    flat = it_load_carbon(result, Carbon(grid_t_co2_per_mwh=0.5))
    assert flat == pytest.approx(k.it_energy_mwh * 0.5, rel=1e-12)
