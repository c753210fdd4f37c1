"""Scenario files: inheritance from defaults, named periods, paths, and every error listed before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coolpilot.cli import main
from coolpilot.evaluation.scenarios import SEASONS, ScenarioFileError, load_scenarios, scenario_set_from_mapping

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: object, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_defaults_are_inherited_field_by_field_and_periods_resolve(tmp_path: Path) -> None:
    data = {
        "policies": ["legacy", "rule-based", "tests/data/bundles/contract1-modern-hall-ppo"],
        "defaults": {"facility": "campus", "period": "summer", "tariff": {"price_per_mwh": 55.0},
                     "carbon": {"green_power_share": 0.5}},
        "scenarios": [
            {"name": "a", "climate": "miami"},
            {"name": "b", "climate": "denver", "period": {"start_day": 10, "days": 2}, "tariff": {"currency": "EUR"},
             "facility": "legacy-hall"},
            {"name": "c", "climate": "chicago", "period": "july"},
        ],
    }
    s = load_scenarios(write(tmp_path, data))
    a, b, c = s.scenarios
    assert (a.facility, a.start_day, a.days, a.period_label) == ("campus", *SEASONS["summer"], "summer")
    assert a.tariff.price_per_mwh == 55.0 and a.carbon.green_power_share == 0.5
    # A field given in the scenario replaces the default's as a whole: EUR at the built-in price.
    assert b.tariff.currency == "EUR" and b.tariff.price_per_mwh == 80.0
    assert (b.facility, b.start_day, b.days) == ("legacy-hall", 10.0, 2.0)
    assert (c.start_day, c.days) == (181.0, 31.0)
    assert s.baseline == "rule-based" and s.proposed == "modern-hall-ppo"  # the card's name
    assert [p.kind for p in s.policies] == ["legacy", "rule-based", "bundle"]
    assert Path(s.policy("modern-hall-ppo").spec) == (
        REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo").resolve()


def test_relative_paths_resolve_against_the_scenario_file(tmp_path: Path) -> None:
    site = tmp_path / "sites" / "hall.yaml"
    site.parent.mkdir()
    site.write_text((REPO / "envs" / "presets" / "modern-hall.yaml").read_text(), encoding="utf-8")
    (tmp_path / "grid.csv").write_text("hour,t_co2_per_mwh\n" + "".join(f"{h},{0.3 + 0.01 * h}\n" for h in range(24)))
    data = {"policies": ["legacy", "rule-based"],
            "scenarios": [{"name": "x", "facility": "sites/hall.yaml", "climate": "miami",
                           "carbon": {"hourly_csv": "grid.csv"}}]}
    sc = load_scenarios(write(tmp_path, data)).scenarios[0]
    assert Path(sc.facility) == site.resolve()
    assert sc.carbon_profile is not None and len(sc.carbon_profile) == 24
    assert sc.carbon_profile[2] == pytest.approx(0.32)


def test_every_problem_is_listed_with_field_value_unit_and_range(tmp_path: Path) -> None:
    data = {
        "policies": ["legacy", "rule-based", "magic", "models/nothing-here"],
        "baseline": "rule-based",
        "defaults": {"tariff": {"price_per_mwh": -3}},
        "scenarios": [
            {"name": "one", "climate": "atlantis", "period": "monsoon"},
            {"name": "two", "climate": "miami",
             "outages": {"chillers": 9, "crahs": [{"zone": "pod-9", "share_out": 0.5}]}, "load": {"level": 1.8},
             "limits": {"inlet_limit_c": 40, "supply_air_temp_c": {"low": 10, "high": 20}}},
            {"name": "three", "climate": "chicago", "period": {"start_day": 10, "days": 5},
             "weather": {"heat_wave": {"start_day": 200, "days": 3, "peak_k": 5}}, "tower_fans": 1},
            {"name": "two", "climate": "miami", "outages": {"tower_cells": 4}},
        ],
    }
    with pytest.raises(ScenarioFileError) as info:
        load_scenarios(write(tmp_path, data, "bad.yaml"))
    msg = str(info.value)
    lines = msg.splitlines()
    assert "bad.yaml" in lines[0] and f"{len(lines) - 1} problem(s)" in lines[0]
    expected = [
        "defaults.tariff.price_per_mwh' = -3 currency/MWh",  # typed: value, unit ...
        "(allowed 0..10000 currency/MWh)",  # ... and allowed range
        "scenarios[0].period",
        "scenarios[1].limits.inlet_limit_c' = 40 °C",
        "(allowed 20..32 °C)",
        "scenarios[1].limits.supply_air_temp_c",
        "scenarios[2].tower_fans",  # a typo is refused, not ignored
        "field 'policies[2]' = 'magic'",
        "field 'policies[3]' = 'models/nothing-here'",
    ]
    for text in expected:
        assert text in msg, f"{text!r} missing from:\n{msg}"
    # Semantic problems of the well-typed scenarios are listed in the same error.
    semantic = [
        "scenarios[3].outages.tower_cells' = 4: must leave at least one of the 4 tower cells",
        "scenarios[3].name' = 'two': also the name of scenarios[1]",
    ]
    for text in semantic:
        assert text in msg, f"{text!r} missing from:\n{msg}"


def test_semantic_problems_of_a_well_typed_file_are_all_listed(tmp_path: Path) -> None:
    data = {
        "policies": ["rule-based", "oracle"],
        "scenarios": [
            {"name": "a", "climate": "atlantis"},
            {"name": "b", "climate": "miami", "facility": "no-such-hall"},
            {"name": "c", "climate": "miami",
             "outages": {"chillers": 5, "crahs": [{"zone": "pod-9", "share_out": 0.5}]}, "load": {"level": 1.8}},
            {"name": "d", "climate": "chicago", "period": {"start_day": 10, "days": 5},
             "weather": {"heat_wave": {"start_day": 200, "days": 3, "peak_k": 5}}},
            {"name": "e", "climate": "miami", "carbon": {"hourly_csv": "missing.csv"}},
        ],
    }
    with pytest.raises(ScenarioFileError) as info:
        scenario_set_from_mapping(data, "mem.yaml", tmp_path)
    msg = str(info.value)
    for text in ["scenarios[0].climate' = 'atlantis': not a bundled climate",
                 "scenarios[1].facility' = 'no-such-hall': not a bundled preset",
                 "scenarios[2].outages.chillers' = 5: more chillers out than the 4 in service",
                 "scenarios[2].outages.crahs[0].zone' = 'pod-9': no such zone",
                 "scenarios[2].load.level' = 1.8: takes zone 'pod-1'",
                 "scenarios[3].weather.heat_wave.start_day' = 200.0: the heat wave",
                 "scenarios[4].carbon.hourly_csv' = 'missing.csv': file not found"]:
        assert text in msg, f"{text!r} missing from:\n{msg}"
    assert msg.splitlines()[0] == "mem.yaml: 7 problem(s) in the scenario file:"


@pytest.mark.parametrize(("rows", "needle"), [
    (["t_co2_per_mwh"] + ["0.5"] * 23, "23 data rows"),
    (["t_co2_per_mwh"] + ["0.5"] * 23 + ["3.1"], "line 25: column 't_co2_per_mwh' = 3.1 t CO2e/MWh is outside"),
    (["t_co2_per_mwh"] + ["0.5"] * 23 + ["lots"], "line 25: column 't_co2_per_mwh' = 'lots' is not a number"),
    (["grid"] + ["0.5"] * 24, "a column 't_co2_per_mwh' is needed"),
])
def test_bad_carbon_profiles_are_refused(tmp_path: Path, rows: list[str], needle: str) -> None:
    (tmp_path / "grid.csv").write_text("\n".join(rows) + "\n")
    data = {"policies": ["rule-based"], "scenarios": [{"climate": "miami", "carbon": {"hourly_csv": "grid.csv"}}]}
    with pytest.raises(ScenarioFileError, match="hourly_csv") as info:
        scenario_set_from_mapping(data, "mem.yaml", tmp_path)
    assert needle in str(info.value)


@pytest.mark.parametrize(("patch", "needle"), [
    ({"baseline": "legacy"}, "baseline 'legacy' is not one of the policies"),
    ({"proposed": "rule-based"}, "proposed and baseline are the same policy"),
    ({"policies": ["rule-based", "rule-based"]}, "policies listed twice"),
    ({"scenarios": []}, "scenarios"),
    ({"scenarios": [{"tariff": {"time_of_use": [{"start_hour": 5, "end_hour": 5, "price_per_mwh": 1}]}}]},
     "empty window"),
    ({"scenarios": [{"tariff": {"time_of_use": [{"start_hour": 5, "end_hour": 9, "price_per_mwh": 1,
                                                  "months": [13]}]}}]}, "months [13] are not in 1..12"),
    ({"scenarios": [{"limits": {"chw_supply_temp_c": {"low": 9, "high": 8}}}]}, "low = 9 must be below high = 8"),
    ({"scenarios": [{"weather": {"heat_wave": {"start_day": 3, "days": 0.5, "peak_k": 4, "ramp_h": 8}}}]},
     "two ramps of 8 h do not fit in 0.5 days"),
    ({"scenarios": [{"name": "bad name!"}]}, "scenarios[0].name"),
    ({"defaults": {"name": "everyone"}}, "defaults.name"),
])
def test_typed_checks(patch: dict[str, object], needle: str) -> None:
    data: dict[str, object] = {"policies": ["rule-based", "oracle"], "scenarios": [{"climate": "miami"}]}
    data.update(patch)
    with pytest.raises(ScenarioFileError) as info:
        scenario_set_from_mapping(data, "mem.yaml")
    assert needle in str(info.value)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="cannot read scenario file"):
        load_scenarios(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies: [rule-based\n")
    with pytest.raises(ScenarioFileError, match="not valid YAML"):
        load_scenarios(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ScenarioFileError, match="must be a YAML mapping"):
        load_scenarios(bad)


def test_the_cli_refuses_a_bad_file_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"policies": ["rule-based"], "scenarios": [{"climate": "atlantis"}, {"climate": "nowhere"}]})
    out = tmp_path / "out"
    assert main(["whatif", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "'atlantis'" in err and "'nowhere'" in err
    assert not out.exists()


def test_the_bundled_scenario_files_are_valid() -> None:
    for name in ("quick.yaml", "story.yaml"):
        s = load_scenarios(REPO / "examples" / "scenarios" / name)
        assert s.baseline == "rule-based" and s.proposed == "modern-hall-ppo"
        assert {p.kind for p in s.policies} == {"legacy", "rule-based", "bundle", "oracle"}
    story = load_scenarios(REPO / "examples" / "scenarios" / "story.yaml").scenarios
    assert {sc.climate for sc in story} >= {"chicago", "oklahoma-city", "miami"}
    assert any(sc.outages.chillers for sc in story) and any(sc.weather.heat_wave for sc in story)
    assert any(sc.load.level > 1.0 for sc in story)


def test_limits_cover_every_setpoint_of_every_block() -> None:
    """A site may range any setpoint a contract can have, the plant's levers included."""
    from coolpilot.envs.contract import SETPOINT_SPECS
    from coolpilot.evaluation.scenarios import Limits

    assert set(SETPOINT_SPECS) <= set(Limits.model_fields)
    limits = Limits.model_validate({"cw_flow_frac": {"low": 0.8, "high": 1.0},
                                    "economizer_enable": {"low": 0.0, "high": 0.4}})
    assert list(limits.ranges()) == ["cw_flow_frac", "economizer_enable"]
    with pytest.raises(ValueError, match=r"leaves the contract's hard bounds 0.2..1"):
        Limits.model_validate({"chw_dp_setpoint_frac": {"low": 0.1, "high": 0.9}})


def test_a_bundle_must_fit_every_scenarios_facility(tiny_bundle: Path) -> None:
    """A contract-2 bundle (modern-hall's nine setpoints) is refused for a legacy-hall scenario, naming the
    difference; a contract-1 bundle (the core block) fits every preset."""
    data = {"policies": ["rule-based", str(tiny_bundle), "tests/data/bundles/contract1-modern-hall-ppo"],
            "scenarios": [{"name": "modern", "climate": "miami", "facility": "modern-hall"},
                          {"name": "old", "climate": "miami", "facility": "legacy-hall"},
                          {"name": "older", "climate": "chicago", "facility": "legacy-hall"},
                          {"name": "campus", "climate": "chicago", "facility": "campus"}]}
    with pytest.raises(ScenarioFileError) as info:
        scenario_set_from_mapping(data, "mem.yaml", REPO)
    msg = str(info.value)
    assert msg.splitlines()[0] == "mem.yaml: 2 problem(s) in the scenario file:"
    assert "policies[1]" in msg and "cannot run on facility legacy-hall of scenarios ['old', 'older']" in msg
    assert "'tower_cell_flow_min_frac'" in msg and "cannot run on facility campus of scenarios ['campus']" in msg
    assert "modern-hall-ppo" not in msg
    data["scenarios"] = data["scenarios"][:1]
    assert [p.kind for p in scenario_set_from_mapping(data, "mem.yaml", REPO).policies] == [
        "rule-based", "bundle", "bundle"]
