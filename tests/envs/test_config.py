"""Facility files: presets load; bad files are refused with the field, value, unit and range."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coolpilot.envs.config import FacilityConfigError, list_presets, load_facility

PRESET_FILE = Path(__file__).parents[2] / "envs" / "presets" / "modern-hall.yaml"


def write(tmp_path: Path, data: object, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def modern() -> dict:
    return yaml.safe_load(PRESET_FILE.read_text())


def test_presets_load_and_campus_has_unequal_zones() -> None:
    assert {"legacy-hall", "modern-hall", "campus"} <= set(list_presets())
    campus = load_facility("campus")
    assert len(campus.zones) >= 4
    assert len({z.it_design_kw * z.load.utilization_mean for z in campus.zones}) == len(campus.zones)
    assert len({z.hall for z in campus.zones}) >= 2
    assert not load_facility("legacy-hall").economizer.enabled
    assert load_facility("modern-hall").economizer.enabled


def test_out_of_range_value_names_field_value_unit_and_range(tmp_path: Path) -> None:
    data = modern()
    data["zones"][1]["it_design_kw"] = -50
    with pytest.raises(FacilityConfigError) as err:
        load_facility(write(tmp_path, data))
    msg = str(err.value)
    assert "site.yaml" in msg and "zones[1].it_design_kw" in msg and "-50" in msg and "kW" in msg
    assert "0..100000 kW" in msg


def test_every_problem_is_listed(tmp_path: Path) -> None:
    data = modern()
    data["crah"]["fan_efficiency"] = 1.5
    data["chillers"]["stage_up_plr"] = 0.01
    data["towers"]["concentration_ratio"] = "many"
    with pytest.raises(FacilityConfigError) as err:
        load_facility(write(tmp_path, data))
    msg = str(err.value)
    assert "3 problem(s)" in msg
    assert "crah.fan_efficiency" in msg and "0.2..0.95" in msg
    assert "chillers.stage_up_plr" in msg and "towers.concentration_ratio" in msg


def test_unknown_field_and_missing_field(tmp_path: Path) -> None:
    data = modern()
    data["crah"]["fan_presure_pa"] = 400
    del data["floor_area_m2"]
    with pytest.raises(FacilityConfigError) as err:
        load_facility(write(tmp_path, data))
    msg = str(err.value)
    assert "crah.fan_presure_pa" in msg and "Extra inputs are not permitted" in msg
    assert "floor_area_m2" in msg and "Field required" in msg


def test_undersized_plant_is_refused(tmp_path: Path) -> None:
    data = modern()
    data["chillers"]["capacity_kw"] = 200
    with pytest.raises(FacilityConfigError, match="below the design cooling load"):
        load_facility(write(tmp_path, data))


def test_not_yaml_missing_file_and_unknown_preset(tmp_path: Path) -> None:
    with pytest.raises(FacilityConfigError, match="not valid YAML"):
        load_facility(write(tmp_path, "zones: [unclosed", "bad.yaml"))
    with pytest.raises(FacilityConfigError, match="must be a YAML mapping"):
        load_facility(write(tmp_path, "- a\n- b\n", "list.yaml"))
    with pytest.raises(FacilityConfigError, match="not found"):
        load_facility(tmp_path / "nope.yaml")
    with pytest.raises(FacilityConfigError, match="unknown facility 'mars-hall'"):
        load_facility("mars-hall")


def test_duplicate_zone_names_and_outage_count(tmp_path: Path) -> None:
    data = modern()
    data["zones"][1]["name"] = data["zones"][0]["name"]
    data["chillers"]["available"] = 9
    with pytest.raises(FacilityConfigError) as err:
        load_facility(write(tmp_path, data))
    assert "unique" in str(err.value) or "available" in str(err.value)


def test_relative_trace_path_resolves_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "trace.csv").write_text("hour,pod_frac\n0,0.5\n24,0.7\n")
    data = modern()
    data["zones"][0]["load"] = {"trace_csv": "trace.csv", "trace_column": "pod_frac"}
    cfg = load_facility(write(tmp_path, data))
    assert Path(cfg.zones[0].load.trace_csv or "").is_absolute()
