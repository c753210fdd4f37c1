"""Scenario files name a Chinese region's grid factor and a provincial tariff template; the KPIs price by them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.evaluation.kpis import step_prices
from coolpilot.evaluation.scenarios import ScenarioFileError, Tariff, scenario_set_from_mapping


def _scenario(**fields: Any) -> dict[str, Any]:
    return {"policies": ["rule-based"], "scenarios": [{"name": "s", "period": {"start_day": 190, "days": 1}, **fields}]}


def _load(data: dict[str, Any], tmp_path: Path) -> Any:
    return scenario_set_from_mapping(data, "grid.yaml", tmp_path).scenarios[0]


def test_a_region_sets_the_grid_factor_with_its_source(tmp_path: Path) -> None:
    sc = _load(_scenario(carbon={"region": "广东省", "green_power_share": 0.2}), tmp_path)
    assert sc.carbon.region == "guangdong" and sc.carbon.grid_t_co2_per_mwh == 0.4403
    assert "2022" in (sc.carbon.factor_source or "") and "生态环境部" in (sc.carbon.factor_source or "")
    assert sc.carbon.green_power_share == 0.2
    default = _load(_scenario(), tmp_path)
    assert default.carbon.grid_t_co2_per_mwh == 0.5703 and default.carbon.region is None


@pytest.mark.parametrize(("carbon", "message"), [
    ({"region": "atlantis"}, "unknown grid region 'atlantis'; use one of china-ets, china,"),
    ({"region": "hebei", "grid_t_co2_per_mwh": 0.5}, "contradicts region 'hebei'"),
    ({"region": "hebei", "hourly_csv": "carbon.csv"}, "region 'hebei' and hourly_csv both set"),
])
def test_bad_regions_are_refused_naming_the_field(tmp_path: Path, carbon: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioFileError) as err:
        _load(_scenario(carbon=carbon), tmp_path)
    text = str(err.value)
    assert "grid.yaml" in text and "scenarios[0].carbon" in text and message in text


def test_a_matching_constant_beside_its_region_is_accepted(tmp_path: Path) -> None:
    assert _load(_scenario(carbon={"region": "hebei", "grid_t_co2_per_mwh": 0.7252}), tmp_path).carbon.region == "hebei"


@pytest.mark.parametrize(("tariff", "message"), [
    ({"template": "atlantis", "price_per_mwh": 600}, "unknown tariff template 'atlantis'; use one of beijing,"),
    ({"template": "guangdong"}, "give price_per_mwh, the flat (平段) price"),
    ({"template": "guangdong", "price_per_mwh": 600,
      "time_of_use": [{"start_hour": 10, "end_hour": 12, "price_per_mwh": 900}]}, "not both"),
    ({"price_per_mwh": 600, "tou_share": 0.5}, "give template too"),
])
def test_bad_tariffs_are_refused_naming_the_field(tmp_path: Path, tariff: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioFileError) as err:
        _load(_scenario(tariff=tariff), tmp_path)
    assert "scenarios[0].tariff" in str(err.value) and message in str(err.value)


def _times(day: int, hours: list[float]) -> np.ndarray:
    return np.array([day * SECONDS_PER_DAY + h * SECONDS_PER_HOUR for h in hours])


def test_template_prices_by_hour(tmp_path: Path) -> None:
    sc = _load(_scenario(tariff={"template": "广东", "price_per_mwh": 650.0}), tmp_path)
    t = sc.tariff
    assert t.template == "guangdong" and t.currency == "CNY" and "粤发改价格〔2021〕331号" in (t.template_source or "")
    hours = [3.5, 9.5, 10.5, 11.5, 13.5, 15.5, 18.5, 22.5]
    july = [0.38, 1.0, 1.7, 2.125, 1.0, 2.125, 1.7, 1.0]
    march = [0.38, 1.0, 1.7, 1.7, 1.0, 1.7, 1.7, 1.0]
    # Day 195 is a Sunday in July (day 0 is a Monday): Chinese time-of-use runs on every day of the week.
    for day, ratios in ((190, july), (195, july), (70, march)):
        np.testing.assert_allclose(step_prices(t, _times(day, hours)), [650.0 * r for r in ratios])


def test_only_the_floating_share_follows_the_periods() -> None:
    t = Tariff.model_validate({"template": "beijing", "price_per_mwh": 700.0, "tou_share": 0.6})
    prices = step_prices(t, _times(0, [3.0, 8.0, 11.0, 19.5]))  # January: valley, flat, peak, critical peak
    np.testing.assert_allclose(prices, [700.0 * (0.4 + 0.6 * r) for r in (0.4, 1.0, 1.6, 1.92)])


def test_a_flat_tariff_is_priced_as_before() -> None:
    flat = Tariff()
    assert flat.currency == "USD" and flat.template is None and flat.template_source is None
    np.testing.assert_allclose(step_prices(flat, _times(3, [1.0, 12.0])), [flat.price_per_mwh] * 2)
