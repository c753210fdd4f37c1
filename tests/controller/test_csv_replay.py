"""CSV replay: rows in order, raw cells kept, writes recorded, clean end, clear errors."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from coolpilot.controller.adapters.base import Adapter, AdapterError
from coolpilot.controller.adapters.csv_replay import CsvReplayAdapter
from coolpilot.envs.contract import POINT_SPECS, SETPOINT_NAMES


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_replay_in_order_then_finish(tmp_path: Path) -> None:
    path = write(tmp_path / "trend.csv", "time_s,inlet_temp_max_c,supply_air_temp_c,vendor_tag\n"
                                         "0,24.5,18.0,a\n"
                                         "300,bad-sensor,nan,b\n"
                                         "600,,18.4,c\n")

    async def go() -> None:
        adapter = CsvReplayAdapter(path)
        assert isinstance(adapter, Adapter)
        assert adapter.columns == ["inlet_temp_max_c", "supply_air_temp_c"]
        await adapter.connect()
        before_s = time.time()
        first = await adapter.read_points()
        assert first.values == {"inlet_temp_max_c": 24.5, "supply_air_temp_c": 18.0}
        assert set(first.times_s) == set(first.values)
        assert all(before_s <= t <= time.time() for t in first.times_s.values()), "stamped fresh at the read"
        second = await adapter.read_points()
        assert second.values["inlet_temp_max_c"] == "bad-sensor", "unparseable cells reach the envelope raw"
        nan = second.values["supply_air_temp_c"]
        assert isinstance(nan, float) and math.isnan(nan)
        third = await adapter.read_points()
        assert third.values == {"inlet_temp_max_c": None, "supply_air_temp_c": 18.4}
        for _ in range(2):
            with pytest.raises(AdapterError, match="replay finished"):
                await adapter.read_points()
        await adapter.close()
        await adapter.close()

    asyncio.run(go())


def test_writes_are_recorded_and_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "it_power_kw\n800\n")

    async def go() -> None:
        adapter = CsvReplayAdapter(path)
        result = await adapter.write_setpoints({"supply_air_temp_c": 19.0, "crah_fan_speed_frac": 0.6})
        assert result.ok and result.accepted == {"supply_air_temp_c": True, "crah_fan_speed_frac": True}
        released = await adapter.relinquish(list(SETPOINT_NAMES))
        assert released.ok
        bad = await adapter.write_setpoints({"sat": 19.0})
        assert not bad.ok and "unknown setpoint" in bad.errors["sat"]
        assert adapter.written == [{"supply_air_temp_c": 19.0, "crah_fan_speed_frac": 0.6},
                                   dict.fromkeys(SETPOINT_NAMES), {}]

    asyncio.run(go())


def test_simulate_csv_replays_its_contract_columns(tmp_path: Path) -> None:
    from coolpilot.controller.policies import RuleBasedPolicy
    from coolpilot.envs.config import load_facility
    from coolpilot.envs.simulation import simulate, write_csv
    from coolpilot.envs.weather import load_climate

    result = simulate(load_facility("modern-hall"), load_climate("chicago"), RuleBasedPolicy(), days=0.05,
                      start_day=180.0)
    path = tmp_path / "sim.csv"
    write_csv(result, path)

    async def go() -> None:
        adapter = CsvReplayAdapter(path)
        assert "inlet_temp_max_c" in adapter.columns and "supply_air_temp_c" in adapter.columns
        assert set(adapter.columns) <= set(POINT_SPECS), "every column named as some block's point is replayed"
        for k in range(result.n_steps):
            reading = await adapter.read_points()
            value = reading.values["inlet_temp_max_c"]
            assert isinstance(value, float)
            assert value == pytest.approx(result.series["inlet_temp_max_c"][k], rel=1e-7)
        with pytest.raises(AdapterError, match="replay finished"):
            await adapter.read_points()

    asyncio.run(go())


def test_paced_replay_follows_the_clock(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "time_s,it_power_kw\n0,100\n300,200\n600,300\n")

    async def go() -> None:
        adapter = CsvReplayAdapter(path, speed=3000.0)  # one 300 s row every 0.1 s
        await adapter.connect()
        t0 = adapter.start_wall_s
        assert t0 is not None
        first = await adapter.read_points()
        assert first.values == {"it_power_kw": 100.0} and first.times_s["it_power_kw"] == t0
        await asyncio.sleep(0.12)
        second = await adapter.read_points()
        assert second.values["it_power_kw"] in (200.0, 300.0)
        assert second.times_s["it_power_kw"] > t0
        await asyncio.sleep(0.35)
        with pytest.raises(AdapterError, match="replay finished"):
            await adapter.read_points()

    asyncio.run(go())


def test_bad_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(ValueError, match=r"nope\.csv"):
        CsvReplayAdapter(missing)
    no_points = write(tmp_path / "other.csv", "time_s,chw_supply_c\n0,7\n")
    with pytest.raises(ValueError, match=r"other\.csv: no column is a contract point"):
        CsvReplayAdapter(no_points)
    with pytest.raises(ValueError, match=r"empty\.csv"):
        CsvReplayAdapter(write(tmp_path / "empty.csv", ""))
    untimed = write(tmp_path / "untimed.csv", "it_power_kw\n1\n")
    with pytest.raises(ValueError, match=r"untimed\.csv.*'time_s'"):
        CsvReplayAdapter(untimed, speed=10.0)
    backwards = write(tmp_path / "back.csv", "time_s,it_power_kw\n300,1\n0,2\n")
    with pytest.raises(ValueError, match="must increase"):
        CsvReplayAdapter(backwards, speed=10.0)
    with pytest.raises(ValueError, match="speed"):
        CsvReplayAdapter(untimed, speed=0.0)
