"""The audit trail: round trips (NaN, inf, None, garbage), queries, SIGKILL durability, refusals, CSV, threads."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from coolpilot.controller.audit import APPLICATION_ID, SCHEMA_VERSION, AuditError, AuditStore, DecisionRecord
from coolpilot.envs.contract import POINT_NAMES, SETPOINT_NAMES

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 120.0
"""Upper bound on any wait for the child process (s); generous because tests run niced beside training jobs."""


def rec(cycle: int, *, run_id: str = "run-a", time_s: float | None = None, **changes: object) -> DecisionRecord:
    """A plausible decision; ``changes`` replace fields."""
    base = DecisionRecord(
        cycle=cycle, run_id=run_id, time_s=1_700_000_000.0 + 300.0 * cycle if time_s is None else time_s,
        mode="active", source="policy",
        points={"inlet_temp_max_c": 24.5, "it_power_kw": 812.25, "outdoor_drybulb_c": 18.0},
        raw_output={"supply_air_temp_c": 21.75, "chw_supply_temp_c": 13.5},
        written={"supply_air_temp_c": 21.5, "chw_supply_temp_c": 13.5},
        interventions=[{"reason": "rate_limit", "target": "supply_air_temp_c", "detail": "21.75 -> 21.5 °C"}],
        model_sha256="ab" * 32, latency_ms=3.25, wrote=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def comparable(value: object) -> object:
    """``value`` with NaN replaced by a marker (NaN != NaN) and records turned into dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return comparable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    return value


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with AuditStore(tmp_path / "audit" / "trail.sqlite") as s:
        yield s


# --- round trips --------------------------------------------------------------------
def test_round_trip_keeps_nan_inf_none_and_garbage(store: AuditStore) -> None:
    weird = rec(1, points={"inlet_temp_max_c": math.nan, "it_power_kw": math.inf, "outdoor_drybulb_c": -math.inf,
                           "supply_air_temp_c": None, "outdoor_rh_pct": 55.0},
                raw_output="ValueError: policy returned array(['x'], dtype='<U1') (not finite floats)",
                written=None, wrote=False, mode="shadow", source="hold", model_sha256=None,
                interventions=[{"reason": "sensor_nan", "target": "inlet_temp_max_c", "detail": "NaN"},
                               {"reason": "model_error", "target": "*", "detail": "garbage output"}])
    nan_model = rec(2, raw_output={"supply_air_temp_c": math.nan, "chw_supply_temp_c": -math.inf},
                    written={"supply_air_temp_c": 22.0, "chw_supply_temp_c": 14.0}, interventions=[])
    numpy_points = rec(3, points={"inlet_temp_max_c": np.float32("nan"), "it_power_kw": np.float64(801.5)},
                       latency_ms=math.nan)
    ids = [store.record(r) for r in (weird, nan_model, numpy_points)]
    assert ids == sorted(ids) and len(set(ids)) == 3

    back = {r.cycle: r for r in store.decisions(newest_first=False)}
    assert comparable(back[1]) == comparable(weird)
    assert comparable(back[2]) == comparable(nan_model)
    assert back[1].points["supply_air_temp_c"] is None, "missing stays missing, not NaN"
    assert back[1].points["it_power_kw"] == math.inf and back[1].points["outdoor_drybulb_c"] == -math.inf
    assert isinstance(back[1].raw_output, str) and back[1].written is None and back[1].wrote is False
    assert math.isnan(back[3].points["inlet_temp_max_c"])  # type: ignore[arg-type]
    assert back[3].points["it_power_kw"] == 801.5 and math.isnan(back[3].latency_ms)

    def strict(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token} stored")

    with contextlib.closing(sqlite3.connect(store.path)) as raw:
        for row in raw.execute("SELECT points, raw_output, written, interventions, nonfinite FROM decisions"):
            for text in row:
                if text is not None:
                    json.loads(text, parse_constant=strict)


def test_refuses_a_non_finite_time(store: AuditStore) -> None:
    with pytest.raises(AuditError, match="finite unix time"):
        store.record(rec(1, time_s=math.nan))
    with pytest.raises(AuditError, match="finite unix time"):
        store.record_mode_change(math.inf, "run-a", "shadow", "active", "alice", "go")
    with pytest.raises(ValueError, match=">= 0"):
        store.decisions(limit=-1)
    assert store.count() == 0


# --- queries ------------------------------------------------------------------------
def test_filters_pages_and_order(store: AuditStore) -> None:
    for cycle in range(10):
        store.record(rec(cycle, run_id="run-a", time_s=1000.0 + cycle))
    for cycle in range(5):
        store.record(rec(cycle, run_id="run-b", time_s=2000.0 + cycle))

    def times(records: list[DecisionRecord]) -> list[float]:
        return [r.time_s for r in records]

    assert times(store.decisions()) == [2004.0, 2003.0, 2002.0, 2001.0, 2000.0, *[1009.0 - i for i in range(10)]]
    assert times(store.decisions(newest_first=False, limit=3)) == [1000.0, 1001.0, 1002.0]
    assert times(store.decisions(since_s=1003.0, until_s=1006.0, newest_first=False)) == [1003.0, 1004.0, 1005.0]
    assert times(store.decisions(since_s=1008.0)) == [2004.0, 2003.0, 2002.0, 2001.0, 2000.0, 1009.0, 1008.0]
    assert times(store.decisions(until_s=1002.0)) == [1001.0, 1000.0]
    assert [r.cycle for r in store.decisions(run_id="run-b", newest_first=False)] == [0, 1, 2, 3, 4]
    assert times(store.decisions(run_id="run-a", limit=2, offset=3)) == [1006.0, 1005.0]
    assert times(store.decisions(run_id="run-a", limit=4, offset=8, newest_first=False)) == [1008.0, 1009.0]
    assert store.decisions(limit=0) == [] and store.decisions(offset=100) == []
    assert store.decisions(run_id="nobody") == []


def test_counts_and_last_cycle(store: AuditStore) -> None:
    assert store.count() == 0 and store.last_cycle("run-a") is None
    for cycle in (1, 2, 7):
        store.record(rec(cycle, run_id="run-a"))
    store.record(rec(1, run_id="run-b"))
    assert store.count() == 4 and store.count("run-a") == 3 and store.count("run-b") == 1
    assert store.last_cycle("run-a") == 7 and store.last_cycle("run-b") == 1 and store.last_cycle("run-c") is None


def test_intervention_counts_by_reason_and_since(store: AuditStore) -> None:
    def iv(*reasons: str) -> list[dict[str, str]]:
        return [{"reason": r, "target": "supply_air_temp_c", "detail": "d"} for r in reasons]

    store.record(rec(1, time_s=100.0, interventions=iv("rate_limit", "bound")))
    store.record(rec(2, time_s=200.0, interventions=iv("rate_limit")))
    store.record(rec(3, time_s=300.0, interventions=iv("thermal_guard", "rate_limit", "rate_limit")))
    store.record(rec(4, time_s=400.0, interventions=[]))
    assert store.intervention_counts() == {"bound": 1, "rate_limit": 4, "thermal_guard": 1}
    assert store.intervention_counts(since_s=200.0) == {"rate_limit": 3, "thermal_guard": 1}
    assert store.intervention_counts(since_s=301.0) == {}

    with contextlib.closing(sqlite3.connect(store.path)) as raw:
        plan = " ".join(str(row[-1]) for row in raw.execute(
            "EXPLAIN QUERY PLAN SELECT reason, count(*) FROM interventions WHERE interventions.time_s >= ? "
            "GROUP BY reason", (200.0,)))
    assert "COVERING INDEX interventions_time_reason" in plan, plan


def test_mode_changes_with_who_and_why(store: AuditStore) -> None:
    assert store.mode_changes() == []
    first = store.record_mode_change(100.0, "run-a", "shadow", "active", "alice", "commissioning done")
    second = store.record_mode_change(50.0, "run-b", "active", "fallback", "bob", "chiller 2 maintenance")
    changes = store.mode_changes()
    assert [c["id"] for c in changes] == [second, first], "last recorded first, even if its clock was behind"
    assert changes[0] == {"id": second, "time_s": 50.0, "run_id": "run-b", "old": "active", "new": "fallback",
                          "who": "bob", "why": "chiller 2 maintenance"}
    assert changes[1]["who"] == "alice" and changes[1]["why"] == "commissioning done"
    assert store.mode_changes(limit=1) == changes[:1]
    assert store.count() == 0, "mode changes are not decisions"


# --- durability and files ---------------------------------------------------------------
CHILD = """
import sys
from coolpilot.controller.audit import AuditStore, DecisionRecord

store = AuditStore(sys.argv[1])
for cycle in range(1, 1_000_000):
    store.record(DecisionRecord(
        cycle=cycle, run_id="crash", time_s=1000.0 + cycle, mode="active", source="policy",
        points={"inlet_temp_max_c": 24.0, "it_power_kw": float("nan")}, raw_output={"supply_air_temp_c": 21.0},
        written={"supply_air_temp_c": 21.0}, interventions=[{"reason": "rate_limit", "target": "x", "detail": ""}],
        model_sha256=None, latency_ms=1.0, wrote=True))
    print(cycle, flush=True)
"""


def test_records_survive_sigkill_right_after_record_returns(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite"
    n = 25
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    lines: queue.Queue[str | None] = queue.Queue()
    with (tmp_path / "child.err").open("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, stderr=err,
                                text=True, cwd=REPO, env=env)
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            for expected in range(1, n + 1):
                try:
                    line = lines.get(timeout=WAIT_S)
                except queue.Empty:
                    pytest.fail(f"child printed nothing for {WAIT_S} s after cycle {expected - 1}")
                if line is None:
                    err.seek(0)
                    pytest.fail(f"child ended after cycle {expected - 1}:\n{err.read()}")
                assert int(line) == expected
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=WAIT_S) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=WAIT_S)
            reader.join(timeout=WAIT_S)  # EOF once the child is gone
            stdout.close()

    with AuditStore(db) as again:
        cycles = {r.cycle for r in again.decisions(run_id="crash", limit=1_000_000)}
        assert set(range(1, n + 1)) <= cycles, f"lost cycles {sorted(set(range(1, n + 1)) - cycles)}"
        assert again.count() == len(cycles) and again.last_cycle("crash") == max(cycles)
        assert again.intervention_counts() == {"rate_limit": len(cycles)}
        assert math.isnan(again.decisions(limit=1)[0].points["it_power_kw"])  # type: ignore[arg-type]
    with contextlib.closing(sqlite3.connect(db)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_wal_and_full_sync_and_schema_marks(store: AuditStore) -> None:
    assert store.pragmas() == {"journal_mode": "wal", "synchronous": "FULL", "user_version": SCHEMA_VERSION,
                               "application_id": APPLICATION_ID}
    with contextlib.closing(sqlite3.connect(store.path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL is a property of the file"
        indexes = {name: sql for name, sql in raw.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
    assert "(time_s)" in indexes["decisions_time"]
    assert indexes["decisions_run_cycle"].startswith("CREATE UNIQUE INDEX") and "(run_id, cycle)" in indexes[
        "decisions_run_cycle"]
    assert "interventions_time_reason" in indexes


def test_reopening_keeps_data_and_a_closed_store_refuses(tmp_path: Path) -> None:
    path = tmp_path / "trail.sqlite"
    with AuditStore(path) as first:
        first.record(rec(1))
        first.record_mode_change(10.0, "run-a", "shadow", "active", "alice", "go")
    with pytest.raises(AuditError, match="closed"):
        first.record(rec(2))
    with pytest.raises(AuditError, match="closed"):
        first.decisions()
    first.close()  # idempotent
    with AuditStore(str(path)) as again:
        assert again.count() == 1 and comparable(again.decisions()[0]) == comparable(rec(1))
        assert again.mode_changes()[0]["new"] == "active"
        again.record(rec(2))
        assert again.last_cycle("run-a") == 2


def _sqlite_with_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE readings (t REAL, v REAL)")
        conn.execute("INSERT INTO readings VALUES (1, 2)")
    conn.close()


def _text_file(path: Path) -> None:
    path.write_text("time_s,inlet_temp_max_c\n0,24.5\n" * 200)


def _newer_audit(path: Path) -> None:
    AuditStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


def _directory(path: Path) -> None:
    path.mkdir()


@pytest.mark.parametrize(("make", "why"), [(_sqlite_with_table, "application_id"), (_text_file, "not an SQLite file"),
                                           (_newer_audit, "not supported"), (_directory, "not a file")])
def test_refuses_files_that_are_not_a_coolpilot_audit_trail(tmp_path: Path, make: Callable[[Path], None],
                                                           why: str) -> None:
    path = tmp_path / "foreign.sqlite"
    make(path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(AuditError, match=why) as info:
        AuditStore(path)
    assert str(path.resolve()) in str(info.value)
    assert isinstance(info.value, ValueError)
    if before is not None:
        assert path.read_bytes() == before, "a refused file is left as it was"


def test_an_empty_file_becomes_an_audit_trail(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with AuditStore(path) as store:
        store.record(rec(1))
        assert store.count() == 1


def test_a_cycle_is_recorded_once(store: AuditStore) -> None:
    store.record(rec(5, run_id="run-a"))
    with pytest.raises(AuditError, match=r"run run-a cycle 5 is already recorded") as info:
        store.record(rec(5, run_id="run-a", time_s=9.0, interventions=[{"reason": "dup", "target": "", "detail": ""}]))
    assert str(store.path) in str(info.value)
    store.record(rec(5, run_id="run-b"))  # another run may reuse the number
    assert store.count() == 2 and store.count("run-a") == 1
    assert "dup" not in store.intervention_counts(), "a refused record leaves nothing behind"


# --- CSV ------------------------------------------------------------------------------
def test_csv_export_columns_rows_and_values(store: AuditStore, tmp_path: Path) -> None:
    store.record(rec(1, time_s=100.0, points={"inlet_temp_max_c": 24.5, "it_power_kw": math.nan, "zz_vendor": 1.0,
                                              "supply_air_temp_c": None}))
    store.record(rec(2, time_s=200.0, raw_output="TimeoutError: inference took 2.5 s", written=None, wrote=False,
                     interventions=[{"reason": "model_timeout", "target": "*", "detail": ""},
                                    {"reason": "hold", "target": "supply_air_temp_c", "detail": "x"}]))
    store.record(rec(3, time_s=300.0, raw_output={"supply_air_temp_c": math.inf, "odd_key": 1.0}, model_sha256=None,
                     interventions=[]))

    buf = io.StringIO()
    assert store.export_csv(buf) == 3
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    header = next(csv.reader(io.StringIO(buf.getvalue())))
    assert header == ["time_s", "run_id", "cycle", "mode", "source", "wrote", "model_sha256", "latency_ms",
                      *(f"point_{n}" for n in (*POINT_NAMES, "zz_vendor")),
                      *(f"raw_{n}" for n in (*SETPOINT_NAMES, "odd_key")), "raw_error",
                      *(f"written_{n}" for n in SETPOINT_NAMES), "interventions"]
    assert len(rows) == 3 and [int(r["cycle"]) for r in rows] == [1, 2, 3], "oldest first"

    first, second, third = rows
    assert float(first["time_s"]) == 100.0 and first["run_id"] == "run-a" and first["mode"] == "active"
    assert first["wrote"] == "true" and first["model_sha256"] == "ab" * 32 and float(first["latency_ms"]) == 3.25
    assert float(first["point_inlet_temp_max_c"]) == 24.5 and math.isnan(float(first["point_it_power_kw"]))
    assert first["point_supply_air_temp_c"] == "" and first["point_outdoor_rh_pct"] == ""
    assert float(first["point_zz_vendor"]) == 1.0
    assert float(first["raw_supply_air_temp_c"]) == 21.75 and float(first["written_chw_supply_temp_c"]) == 13.5
    assert first["raw_error"] == "" and first["interventions"] == "rate_limit:supply_air_temp_c"
    assert second["wrote"] == "false" and second["raw_error"] == "TimeoutError: inference took 2.5 s"
    assert second["raw_supply_air_temp_c"] == "" and second["written_supply_air_temp_c"] == ""
    assert second["interventions"] == "model_timeout:*;hold:supply_air_temp_c"
    assert float(third["raw_supply_air_temp_c"]) == math.inf and float(third["raw_odd_key"]) == 1.0
    assert third["model_sha256"] == "" and third["interventions"] == ""

    out = tmp_path / "exports" / "trail.csv"
    assert store.export_csv(out, since_s=150.0, until_s=300.0) == 1
    with out.open(newline="") as f:
        only = list(csv.DictReader(f))
    assert [r["cycle"] for r in only] == ["2"]
    assert "point_zz_vendor" not in only[0], "columns for names outside the contract come from the selection"
    assert store.export_csv(io.StringIO(), since_s=1000.0) == 0


# --- threads --------------------------------------------------------------------------
def test_records_from_several_threads_all_land(store: AuditStore) -> None:
    n_threads, per_thread = 8, 40
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads + 1)

    def writer(k: int) -> None:
        try:
            start.wait(timeout=WAIT_S)
            for cycle in range(per_thread):
                store.record(rec(cycle, run_id=f"run-{k}", time_s=1000.0 + cycle + k / 100))
                if cycle % 10 == 0:
                    store.record_mode_change(1000.0 + cycle, f"run-{k}", "shadow", "active", f"t{k}", "load")
        except BaseException as err:  # collected for the main thread
            errors.append(err)

    def reader() -> None:
        try:
            start.wait(timeout=WAIT_S)
            for _ in range(20):
                store.decisions(limit=50)
                store.export_csv(io.StringIO())
                store.intervention_counts()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_threads)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT_S)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert errors == []
    assert store.count() == n_threads * per_thread
    assert all(store.last_cycle(f"run-{k}") == per_thread - 1 for k in range(n_threads))
    assert store.intervention_counts() == {"rate_limit": n_threads * per_thread}
    assert len(store.mode_changes(limit=1000)) == n_threads * per_thread // 10
