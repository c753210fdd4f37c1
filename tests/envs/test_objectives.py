"""Objectives: energy, cost with a demand charge, carbon, wear; grid signals as points."""

from __future__ import annotations

import numpy as np
import pytest

from coolpilot.envs.objectives import AHEAD_H, HOURS_PER_YEAR, GridSignals, Objective, StepCost

DT = 300.0


def test_cost_is_energy_by_the_hours_price_plus_the_demand_charge_on_each_peak_rise() -> None:
    price = np.where(np.arange(HOURS_PER_YEAR) % 24 < 12, 100.0, 50.0)
    signals = GridSignals(price, np.full(HOURS_PER_YEAR, 0.5), demand_charge_per_kw_month=10.0)
    cost = StepCost(Objective(kind="cost"), signals, np.array([1000.0]), DT)
    cost.reset(np.array([0]), np.array([0.0]))
    power = [1000.0] * 3 + [1300.0] * 3 + [1000.0] * 3  # one 15-minute block at 1,300 kW
    total = 0.0
    for k, p in enumerate(power):
        _, _, c = cost.price(np.array([p]), np.array([k * DT]), np.zeros(1), np.zeros(1))
        total += float(c[0])
    energy = sum(p * DT / 3600.0 / 1000.0 * 100.0 for p in power)  # all within the first 12 h
    assert total == pytest.approx(energy + 10.0 * (1300.0 - 1000.0))
    assert cost.peak_kw[0] == pytest.approx(1300.0)


def test_wear_and_scale_are_shared_by_the_objectives() -> None:
    signals = GridSignals.flat(price_per_mwh=80.0, carbon_t_per_mwh=0.4)
    for kind in ("energy", "cost", "carbon"):
        cost = StepCost(Objective(kind=kind, wear_kwh_per_move=10.0, wear_kwh_per_start=30.0, demand_charge=False),
                        signals, np.array([1000.0]), DT)
        cost.reset(np.array([0]), np.array([0.0]))
        energy, wear, _ = cost.price(np.array([1200.0]), np.array([0.0]), np.array([0.5]), np.array([1.0]))
        assert energy[0] == pytest.approx(-1.2)  # facility over design IT power, whatever the unit
        assert wear[0] == pytest.approx(-(10.0 * 0.5 + 30.0) / (1000.0 * DT / 3600.0))


def test_signals_sample_now_and_ahead_and_refuse_bad_years() -> None:
    price = np.arange(HOURS_PER_YEAR, dtype=float)
    signals = GridSignals(price, np.full(HOURS_PER_YEAR, 0.5))
    now, ahead, carbon, _ = signals.sample(np.array([10 * 3600.0 + 1.0]))[0]
    assert now == 10.0 and ahead == pytest.approx(np.mean(np.arange(11, 11 + AHEAD_H)))
    assert carbon == 0.5
    with pytest.raises(ValueError, match="one per hour of a year"):
        GridSignals(np.ones(24), np.ones(HOURS_PER_YEAR))
    with pytest.raises(ValueError, match="finite and ≥ 0"):
        GridSignals.flat(price_per_mwh=-1.0)
