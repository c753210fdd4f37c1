"""The site pipeline end to end, as a user runs it (README "Your own site"), on the example site history.

history → ``coolpilot calibrate`` (facility, report, plan) → ``coolpilot train`` on the calibrated facility →
``coolpilot export`` → ``coolpilot whatif`` on the calibrated twin with the ``recorded`` baseline beside
rule-based and the new bundle → ``coolpilot serve``'s service in shadow, then active, against the calibrated
twin over Modbus TCP on 127.0.0.1 (a site file as a user writes it; the adapter and the twin built from it as
``coolpilot serve`` and ``coolpilot twin`` build them).

The fast test cuts every stage small: the first days of the example history, a few CMA-ES generations, a
tiny PPO run, a day of what-if and a few hours of control. The slow one runs the whole month.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from coolpilot.cli import main
from coolpilot.controller.connect import build_adapter, twin_for_site
from coolpilot.controller.service import ControllerService, CycleOutcome
from coolpilot.controller.site import load_site
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import INLET_LIMIT_C, SETPOINTS_BY_NAME
from tests.controller.helpers import HOST, free_port

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "site-history"
HISTORY_START_DAY = 160.0
"""The example history's first day (10 June; its README)."""
CYCLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Sizes:
    """How big each stage runs."""

    history_rows: int | None
    """Rows of the example export (None: all, a month; 288 a day)."""
    holdout_days: float
    generations: int
    popsize: int
    restarts: int
    timesteps: int
    whatif_days: float | None
    """Days of the what-if (None: the whole history)."""
    shadow_cycles: int
    active_cycles: int


FAST = Sizes(history_rows=720, holdout_days=0.5, generations=2, popsize=6, restarts=1, timesteps=1024,
             whatif_days=1.0, shadow_cycles=6, active_cycles=24)
FULL = Sizes(history_rows=None, holdout_days=7.0, generations=120, popsize=16, restarts=2, timesteps=8192,
             whatif_days=None, shadow_cycles=288, active_cycles=288)


def _history(tmp: Path, rows: int | None) -> Path:
    """The example export, or its first ``rows`` data rows (a BMS export of those days)."""
    if rows is None:
        return EXAMPLE / "site-history.csv.gz"
    with gzip.open(EXAMPLE / "site-history.csv.gz", "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(rows + 1)]
    path = tmp / "site-history.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _site_file(tmp: Path, facility: Path, bundle: Path, port: int) -> Path:
    site = {
        "name": "hall-a", "facility": str(facility), "model": str(bundle), "fallback_policy": "rule-based",
        "mode": "shadow", "period_s": 0.01, "rate_period_s": 300,
        "adapter": {"kind": "modbus", "modbus": {"host": HOST, "port": port, "timeout_s": 2.0,
                                                 "reconnect_min_s": 0.05, "reconnect_max_s": 0.2}},
        "safety": {"stale_after_s": 5.0},
        "audit": {"path": str(tmp / "audit.sqlite")},
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    return path


async def _serve(site_path: Path, facility: Path, sizes: Sizes) -> dict[str, object]:
    """Shadow then active against the calibrated twin, in lockstep; what happened in each mode."""
    site = load_site(site_path)
    twin = twin_for_site(site.adapter, facility=str(facility), climate="chicago", start_day=HISTORY_START_DAY + 3.0)
    service = ControllerService(site, build_adapter(site.adapter))
    await twin.connect()
    try:
        async def cycles(n: int) -> list[CycleOutcome]:
            out = []
            for _ in range(n):
                await twin.run_ticks(1)
                out.append(await asyncio.wait_for(service.run_cycle(), CYCLE_TIMEOUT_S))
            return out

        assert service.mode == "shadow"
        shadow = await cycles(sizes.shadow_cycles)
        received_in_shadow = len(twin.setpoints_received)
        await service.set_mode("active", "pipeline test", "commissioned after shadow")
        active = await cycles(sizes.active_cycles)
        records = service.audit.decisions(limit=sizes.shadow_cycles + sizes.active_cycles + 10)
        return {"shadow": shadow, "active": active, "received_in_shadow": received_in_shadow,
                "received": list(twin.setpoints_received), "records": records, "twin": twin,
                "out_of_bounds": twin.out_of_bounds_writes + twin.invalid_writes}
    finally:
        await service.shutdown()
        await twin.close()


def run_pipeline(tmp: Path, sizes: Sizes, capsys: pytest.CaptureFixture[str]) -> None:
    """Every stage through the CLI's entry point, checking what each writes."""
    history = _history(tmp, sizes.history_rows)
    site_dir = tmp / "site"
    facility = site_dir / "hall-a.yaml"

    # 1. calibrate: the facility, its sidecar, the report and the plan.
    assert main(["calibrate", str(history), "--column-map", str(EXAMPLE / "column-map.yaml"), "--facility",
                 "modern-hall", "--out", str(facility), "--report", str(site_dir / "report"), "--plan",
                 str(site_dir / "plan.yaml"), "--holdout-days", str(sizes.holdout_days), "--generations",
                 str(sizes.generations), "--popsize", str(sizes.popsize), "--restarts", str(sizes.restarts),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "non_it_power_kw" in out and "not identifiable" in out
    calibrated = load_facility(facility)
    sidecar = json.loads((site_dir / "hall-a.calibration.json").read_text())
    report = json.loads((site_dir / "report" / "calibration.json").read_text())
    assert (site_dir / "report" / "report.html").stat().st_size > 10_000
    assert yaml.safe_load((site_dir / "plan.yaml").read_text())

    # 2. train on the calibrated facility, 3. export the bundle.
    run_dir = tmp / "run"
    assert main(["train", str(REPO / "training" / "configs" / "tiny.yaml"), "--set", f"env.facility={facility}",
                 "--timesteps", str(sizes.timesteps), "--run-dir", str(run_dir), "--no-progress"]) == 0
    models = tmp / "models"
    assert main(["export", str(run_dir), "--name", "hall-a-ppo", "--models-dir", str(models),
                 "--parity-samples", "1000"]) == 0
    bundle = models / "hall-a-ppo"
    card = json.loads((bundle / "card.json").read_text())
    assert card["facility"] == str(facility)
    assert [s["name"] for s in card["setpoints"]] == list(calibrated.contract.setpoint_names)
    capsys.readouterr()

    # 4. what-if on the calibrated twin: recorded beside rule-based and the new bundle, over the history.
    scenario: dict[str, object] = {"name": "hall-a"}
    if sizes.whatif_days is not None:
        scenario["period"] = {"start_day": HISTORY_START_DAY + 1.0, "days": sizes.whatif_days}
    scenarios = {"title": "Hall A on its own days", "baseline": "recorded",
                 "policies": ["recorded", "rule-based", str(bundle)],
                 "defaults": {"facility": str(facility),
                              "history": {"files": [str(history)], "column_map": str(EXAMPLE / "column-map.yaml")}},
                 "scenarios": [scenario]}
    scenario_file = tmp / "whatif.yaml"
    scenario_file.write_text(yaml.safe_dump(scenarios), encoding="utf-8")
    assert main(["whatif", str(scenario_file), "--out", str(tmp / "whatif"), "--workers", "1",
                 "--no-progress"]) == 0
    results = json.loads((tmp / "whatif" / "results.json").read_text())
    sc = results["scenarios"][0]
    assert set(sc["runs"]) == {"recorded", "rule-based", "hall-a-ppo"}
    fit = sc["history"]["metered"]
    assert fit["calibrated_parameters"] == len(sidecar["parameters"])
    non_it = fit["quantities"]["non_it_power_kw"]
    # The recorded run is the calibrated twin on (part of) the period it was fitted and checked on: it fits.
    assert non_it["fit"]["g14_hourly_pass"] is True, non_it
    heldout = report["heldout"]["non_it_power_kw"]
    assert heldout["calibrated"]["rmse"] < heldout["draft"]["rmse"], heldout  # the fit improved on the draft
    assert {s["kind"] for s in sc["history"]["setpoint_sources"].values()} == {"recorded"}
    assert "recorded" in sc["savings_vs_baseline"]["hall-a-ppo"]["reference"]
    page = (tmp / "whatif" / "report.html").read_text()
    assert "The recorded run beside the meters" in page

    # 5. serve: shadow writes nothing, then active writes through the envelope to the calibrated twin.
    site_path = _site_file(tmp, facility, bundle, free_port())
    served = asyncio.run(_serve(site_path, facility, sizes))
    assert served["received_in_shadow"] == 0
    assert not any(o.wrote for o in served["shadow"])  # type: ignore[attr-defined]
    assert sum(o.wrote for o in served["active"]) >= sizes.active_cycles - 2  # type: ignore[attr-defined]
    assert served["out_of_bounds"] == 0
    records = list(reversed(served["records"]))  # type: ignore[call-overload]
    assert [r.cycle for r in records] == list(range(1, sizes.shadow_cycles + sizes.active_cycles + 1))
    assert {r.mode for r in records[: sizes.shadow_cycles]} == {"shadow"}
    assert {r.mode for r in records[sizes.shadow_cycles:]} == {"active"}
    for r in records:
        for name, value in (r.written or {}).items():
            spec = SETPOINTS_BY_NAME[name]
            assert math.isfinite(value) and spec.low <= value <= spec.high
    twin = served["twin"]
    assert max(t.inlet_temp_max_c for t in twin.records) < INLET_LIMIT_C  # type: ignore[attr-defined]
    assert {r.name for r in served["received"]} <= set(calibrated.contract.setpoint_names)  # type: ignore[attr-defined]


def test_site_pipeline_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every stage small: 2.5 days of history, a tiny policy, a day of what-if, 30 cycles of control."""
    run_pipeline(tmp_path, FAST, capsys)


@pytest.mark.slow
def test_site_pipeline_end_to_end_on_the_whole_month(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's pipeline at its defaults: the whole month calibrated, the what-if over the whole history, a day
    each in shadow and active."""
    run_pipeline(tmp_path, FULL, capsys)
