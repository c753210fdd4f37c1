"""The AI factory's liquid-cooling setpoints over a real protocol: a Modbus TCP site on the ai-factory contract (its
default register map), the rule-based fallback writing the facility-water, rack-coolant and CDU-flow setpoints, the
plant twin receiving them, GPU cases under their limit, and everything handed back at shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.config import load_facility
from tests.controller.test_site_protocols import decisions_in_order, lockstep, on_fresh_ports

LIQUID = ("fws_supply_temp_c", "tcs_supply_temp_c", "cdu_flow_frac", "heat_pump_duty_frac")


def test_the_liquid_setpoints_close_the_loop_over_modbus(tmp_path: Path) -> None:
    site = site_from_mapping({
        "name": "ai-factory-b", "facility": "ai-factory", "fallback_policy": "rule-based", "mode": "active",
        "period_s": 300, "adapter": {"kind": "modbus", "modbus": {"host": "127.0.0.1", "port": 5020}},
        "safety": {"hold_cycles": 0},
    }, "site-ai.yaml")
    assert set(LIQUID) <= set(site.contract.setpoint_names)
    site = on_fresh_ports(site, tmp_path)
    twin, _ = asyncio.run(lockstep(site, 8, facility="ai-factory"))
    last = decisions_in_order(site.audit.path)[-1]
    assert last.wrote and last.source == "fallback"
    assert set(last.written or {}) == set(site.contract.setpoint_names)
    assert not any(i["reason"].startswith("sensor_") or i["reason"] == "write_refused" for i in last.interventions)
    written = last.written or {}
    cfg = load_facility("ai-factory")
    assert cfg.liquid is not None
    assert written["fws_supply_temp_c"] == pytest.approx(cfg.liquid.fws_design_supply_c, abs=0.1)
    assert written["tcs_supply_temp_c"] == pytest.approx(cfg.liquid.fws_design_supply_c + cfg.liquid.cdu.approach_k,
                                                         abs=0.1)
    received = {m.name: m.applied for m in twin.setpoints_received if m.applied is not None}
    for sp in LIQUID:  # to the register's resolution
        assert received[sp] == pytest.approx(written[sp], abs=0.1), sp
    in_charge = [t for t in twin.records if t.controller_in_charge]
    limit = cfg.liquid.cold_plates.case_limit_c
    assert in_charge and all(r.case_temp_max_c is not None and 0.0 < r.case_temp_max_c <= limit for r in in_charge)
    assert twin.out_of_bounds_writes == 0 and twin.invalid_writes == 0
    assert twin.commanded == {}, f"shutdown left {twin.commanded} commanded"
