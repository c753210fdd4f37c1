"""Contract version 2: derived from the equipment, compared with its differences named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coolpilot.envs.config import FacilityConfigError, facility_from_mapping, load_facility
from coolpilot.envs.contract import (
    BLOCKS,
    CORE_CONTRACT,
    LEVERS,
    POINT_SPECS,
    SETPOINT_SPECS,
    Contract,
    ContractError,
    bundle_fits,
    contract_from_card,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_setpoint_has_its_safety_rules_and_feedback_point() -> None:
    for spec in SETPOINT_SPECS.values():
        assert spec.cooling_direction in (-1, +1), spec.name
        assert spec.low <= spec.safe <= spec.high, spec.name
        assert spec.measured_by in POINT_SPECS, f"{spec.name} is measured by an unknown point"
        assert POINT_SPECS[spec.measured_by].unit == spec.unit
        assert spec.slew_per_min > 0.0
    assert LEVERS[:4] == CORE_CONTRACT.setpoint_names
    assert len(CORE_CONTRACT.points) == 20 and len(CORE_CONTRACT.setpoints) == 4


def test_contract_follows_the_equipment() -> None:
    modern = load_facility("modern-hall")
    # every equipment block but storage and liquid cooling; grid_signals and pv (points only) if listed
    plant = ("core", "chiller_staging", "tower_cells", "chw_dp_reset", "cw_flow", "economizer")
    assert modern.contract.blocks == plant
    tes = load_facility("modern-hall-tes")
    assert tes.contract.blocks == (*plant, "thermal_storage")  # the same hall with a tank adds the storage block
    pod = load_facility("modern-hall-ai-pod")
    assert pod.contract.blocks == (*plant, "liquid_cooling")  # an AI pod on cold plates adds the liquid block
    assert tuple(BLOCKS)[-2:] == ("grid_signals", "pv")  # points-only blocks stay last: the envs append them
    assert tes.contract.setpoint_names[-1] == "tes_rate_frac"
    assert tes.contract.differences(modern.contract, "tes", "modern") == [
        "points ['tes_soc', 'tes_cold_temp_c', 'tes_warm_temp_c', 'tes_discharge_kw', 'tes_rate_frac'] are in tes "
        "but not in modern", "setpoints ['tes_rate_frac'] are in tes but not in modern"]
    data = {"name": "tiny", "floor_area_m2": 200, "zones": [{"name": "z", "it_design_kw": 100}],
            "chillers": {"count": 1, "capacity_kw": 200}, "towers": {"variable_speed": False},
            "chilled_water": {"variable_flow": False}}
    tiny = facility_from_mapping(data)
    assert tiny.contract == CORE_CONTRACT  # one chiller, single-speed towers, constant flow: nothing to lever
    # A facility may offer fewer levers than its equipment has, never more.
    restricted = facility_from_mapping({**data, "chillers": {"count": 2, "capacity_kw": 200},
                                        "blocks": ["chiller_staging"]})
    assert restricted.contract.setpoint_names[-1] == "chiller_stage_up_plr"
    with pytest.raises(FacilityConfigError, match=r"blocks \['economizer'\] are not blocks this equipment has"):
        facility_from_mapping({**data, "blocks": ["economizer"]})


def test_differences_are_named() -> None:
    modern = load_facility("modern-hall").contract
    campus = load_facility("campus").contract
    diff = modern.differences(campus, "bundle X", "facility campus")
    assert diff == ["points ['cw_flow_frac'] are in bundle X but not in facility campus",
                    "setpoints ['cw_flow_frac'] are in bundle X but not in facility campus"]
    with pytest.raises(ContractError, match="cw_flow_frac"):
        modern.require_same(campus, "bundle X", "facility campus")
    assert modern.differences(load_facility("modern-hall").contract) == []
    assert modern.fingerprint != campus.fingerprint


def test_card_round_trip_and_contract_1_bundles() -> None:
    modern = load_facility("modern-hall").contract
    card = {"contract_version": 2, "contract": modern.to_dict(),
            "points": [{"name": p.name, "unit": p.unit} for p in modern.points],
            "setpoints": [{"name": s.name, "unit": s.unit, "low": s.low, "high": s.high} for s in modern.setpoints]}
    assert contract_from_card(card) == modern
    assert bundle_fits(contract_from_card(card), modern, "b", "modern-hall") == []
    assert bundle_fits(contract_from_card(card), load_facility("legacy-hall").contract, "b", "legacy-hall")
    shipped = json.loads((ROOT / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo" / "card.json").read_text())
    v1 = contract_from_card(shipped)
    assert v1.version == 1 and v1.setpoint_names == CORE_CONTRACT.setpoint_names
    for preset in ("legacy-hall", "modern-hall", "campus", "campus-tes"):  # the core block is in every contract
        assert bundle_fits(v1, load_facility(preset).contract, "modern-hall-ppo", preset) == []
    bad = {**card, "setpoints": [*card["setpoints"][:-1], {"name": "economizer_enable", "unit": "%", "low": 0,
                                                           "high": 1}]}
    with pytest.raises(ContractError, match="economizer_enable is in '%', the contract says '1'"):
        contract_from_card(bad)
    with pytest.raises(ContractError, match="contract_version 7"):
        contract_from_card({**card, "contract_version": 7})


def test_contract_checks_mappings() -> None:
    legacy = load_facility("legacy-hall").contract
    with pytest.raises(ContractError, match=r"missing \['chiller_stage_up_plr'\], unknown \['cw_flow_frac'\]"):
        legacy.check_setpoints({"supply_air_temp_c": 1, "crah_fan_speed_frac": 1, "chw_supply_temp_c": 1,
                                "condenser_water_temp_c": 1, "cw_flow_frac": 1})
    with pytest.raises(ContractError, match="repeated"):
        Contract(blocks=("core",), points=CORE_CONTRACT.points * 2, setpoints=())
