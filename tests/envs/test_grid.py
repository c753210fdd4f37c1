"""Grid factors and tariff templates by name: resolution, refusal, hours covering the day, prices by hour."""

from __future__ import annotations

import pytest

from coolpilot.envs.grid import (
    HOUR_RESOLUTION_H,
    PERIOD_NAMES,
    GridDataError,
    Season,
    default_grid_factor,
    grid_factor,
    grid_factor_names,
    tariff_template,
    tariff_template_names,
)


@pytest.mark.parametrize(("name", "slug"), [
    ("guangdong", "guangdong"), ("广东", "guangdong"), ("广东省", "guangdong"), ("Guangdong", "guangdong"),
    ("GUANG DONG", "guangdong"), ("inner_mongolia", "inner-mongolia"), ("内蒙古自治区", "inner-mongolia"),
    ("华北", "north-china"), ("North China", "north-china"), ("南方电网", "south-china"),
    ("宁夏回族自治区", "ningxia"), ("china-ets", "china-ets"),
])
def test_grid_factor_names_resolve(name: str, slug: str) -> None:
    assert grid_factor(name).name == slug


def test_published_values_and_the_default() -> None:
    """Spot values of the MEE/NBS 2022 table (as the press reported them) and the carbon-market default."""
    expected = {"hebei": 0.7252, "yunnan": 0.1073, "sichuan": 0.1404, "north-china": 0.6776,
                "southwest-china": 0.2268, "china": 0.5366, "china-fossil": 0.8325}
    for name, value in expected.items():
        f = grid_factor(name)
        assert f.t_co2_per_mwh == value and f.year == 2022 and f.source_text, name
    from coolpilot.evaluation.scenarios import DEFAULT_GRID_FACTOR_T_PER_MWH

    assert default_grid_factor().name == "china-ets"
    assert default_grid_factor().t_co2_per_mwh == DEFAULT_GRID_FACTOR_T_PER_MWH == 0.5703
    kinds = [grid_factor(n).kind for n in grid_factor_names()]
    assert kinds.count("region") == 7 and kinds.count("province") == 30


@pytest.mark.parametrize("lookup", [grid_factor, tariff_template])
def test_unknown_names_are_refused_with_the_valid_ones(lookup: object) -> None:
    assert callable(lookup)
    with pytest.raises(GridDataError) as err:
        lookup("atlantis")
    message = str(err.value)
    assert "'atlantis'" in message
    names = grid_factor_names() if lookup is grid_factor else tariff_template_names()
    assert all(n in message for n in names)


def test_tariff_names_resolve() -> None:
    assert tariff_template("广东省").name == "guangdong"
    assert tariff_template("蒙西").name == "inner-mongolia-west"
    assert tariff_template("Beijing").name == "beijing"
    with pytest.raises(GridDataError, match="unknown tariff template 'inner-mongolia'"):
        tariff_template("inner-mongolia")  # 蒙西 and 蒙东 differ: never guessed


@pytest.mark.parametrize("name", tariff_template_names())
def test_every_template_covers_each_day_of_each_month_exactly_once(name: str) -> None:
    t = tariff_template(name)
    slots = round(24 / HOUR_RESOLUTION_H)
    for month in range(1, 13):
        hours = t.hours_by_period(month)
        assert sum(hours.values()) == pytest.approx(24.0), (name, month, hours)
        covered = [0] * slots
        for spans in t.season(month).periods.values():
            for start, end in spans:
                for k in range(slots):
                    if start <= k * HOUR_RESOLUTION_H < end:
                        covered[k] += 1
        assert covered == [1] * slots, (name, month)
        assert set(hours) <= set(PERIOD_NAMES)
    assert sorted(m for s in t.seasons for m in s.months) == list(range(1, 13))


@pytest.mark.parametrize("name", tariff_template_names())
def test_templates_keep_the_national_rule(name: str) -> None:
    """NDRC 发改价格〔2021〕1093号: peak:valley at least 3:1, critical peak at least 20 % above peak."""
    for season in tariff_template(name).seasons:
        r = season.ratios
        assert r["flat"] == 1.0 and r["peak"] / r["valley"] >= 3.0 - 1e-9, (name, season.months)
        if "critical_peak" in r:
            assert r["critical_peak"] >= 1.2 * r["peak"] - 1e-9, (name, season.months)
        if "deep_valley" in r:
            assert r["deep_valley"] < r["valley"]


@pytest.mark.parametrize(("name", "month", "hour", "period", "ratio"), [
    ("guangdong", 7, 11.5, "critical_peak", 2.125),
    ("guangdong", 7, 10.5, "peak", 1.7),
    ("guangdong", 3, 11.5, "peak", 1.7),
    ("guangdong", 3, 9.0, "flat", 1.0),
    ("guangdong", 12, 7.99, "valley", 0.38),
    ("guangdong", 12, 8.0, "flat", 1.0),
    ("beijing", 1, 19.0, "critical_peak", 1.92),
    ("beijing", 7, 16.5, "critical_peak", 1.92),
    ("beijing", 4, 16.5, "flat", 1.0),
    ("beijing", 4, 23.5, "valley", 0.4),
    ("shanghai", 7, 13.0, "critical_peak", 2.25),
    ("shanghai", 9, 13.0, "peak", 1.8),
    ("shanghai", 4, 9.0, "peak", 1.6),
    ("shanghai", 4, 3.0, "valley", 0.5),
    ("heilongjiang", 6, 11.25, "peak", 1.5),
    ("heilongjiang", 6, 11.75, "flat", 1.0),
    ("heilongjiang", 6, 23.75, "valley", 0.5),
    ("inner-mongolia-west", 7, 14.0, "deep_valley", 0.352),
    ("inner-mongolia-west", 1, 14.0, "valley", 0.48),
])
def test_prices_by_hour(name: str, month: int, hour: float, period: str, ratio: float) -> None:
    t = tariff_template(name)
    assert t.period_at(month, hour) == period
    assert t.ratio_at(month, hour) == pytest.approx(ratio)
    table = t.ratio_table()
    assert table[month - 1][int(hour / HOUR_RESOLUTION_H)] == pytest.approx(ratio)


@pytest.mark.parametrize(("periods", "problem"), [
    ({"peak": [[10, 12]], "flat": [[0, 10], [12, 24]], "valley": [[0, 8]]}, "belong to two periods"),
    ({"peak": [[10, 12]], "flat": [[12, 24]], "valley": [[0, 8]]}, "belong to no period"),
    ({"peak": [[10, 12.25]], "flat": [[0, 10], [12.25, 24]]}, "not on the 0.5 h grid"),
    ({"peak": [[12, 10]], "flat": [[0, 24]]}, "empty"),
])
def test_a_season_that_does_not_cover_the_day_once_is_refused(periods: dict[str, list[list[float]]],
                                                              problem: str) -> None:
    ratios = {name: (1.0 if name == "flat" else 1.5) for name in periods}
    with pytest.raises(ValueError, match=problem):
        Season.model_validate({"months": [1], "periods": periods, "ratios": ratios})
