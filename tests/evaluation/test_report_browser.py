"""The report in a real headless Chromium: no console errors, every plot drawn, key numbers on the page.

Needs Playwright (``pip install playwright``) and a system Chromium (Debian: ``apt-get install -y
chromium``; the path can be set with ``COOLPILOT_CHROMIUM``); no browser is downloaded. Without
either the test is skipped with that reason. A full-page screenshot goes to the test's run
directory and, when ``COOLPILOT_ARTIFACTS`` names a folder, is copied there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from coolpilot.envs.config import load_facility
from coolpilot.evaluation.report import write_outputs
from coolpilot.evaluation.scenarios import scenario_set_from_mapping
from coolpilot.evaluation.whatif import PLANT_SERIES, run_whatif

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COOLPILOT_CHROMIUM", "/usr/bin/chromium")

SCENARIOS = {
    "title": "Browser check",
    "description": "Two short scenarios, one of which makes the learned policy overheat.",
    # The contract-1 bundle shipped before contracts followed the equipment aims its inlets near 25 °C.
    "policies": ["legacy", "rule-based", str(REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo"),
                 "oracle"],
    "defaults": {"facility": "modern-hall", "climate": "chicago", "period": {"start_day": 190, "days": 1}},
    "scenarios": [
        {"name": "july-day", "description": "A July day in Chicago."},
        {"name": "strict-25c", "description": "The site allows only 25 °C at the inlets.",
         "limits": {"inlet_limit_c": 25}, "carbon": {"green_power_share": 0.5}},
    ],
}


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; no browser download is needed)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set COOLPILOT_CHROMIUM)")
    return sync_playwright


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    sync_playwright = _playwright()
    results = run_whatif(scenario_set_from_mapping(SCENARIOS, "browser.yaml"), workers=1, progress=False)
    paths = write_outputs(results, tmp_path)
    saved = json.loads(paths["results.json"].read_text())
    html = paths["report.html"].read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "<script" not in html and "<link" not in html and "<img" not in html  # self-contained, nothing to fetch

    console: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(paths["report.html"].as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all(
            "svg.plot", "els => els.map(e => { const r = e.getBoundingClientRect(); "
            "return [r.width, r.height, e.querySelectorAll('polyline, rect, circle').length]; })")
        text = page.inner_text("body")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    assert console == [], console
    assert requests == [paths["report.html"].as_uri()], requests
    n_scenarios = len(saved["scenarios"])
    # The summary chart; per scenario PUE, energy and inlets, and the peak week: inlet, each of modern-hall's nine
    # setpoints, the plant's four responses (chillers, tower cells, both flows) and facility power.
    week_panels = 1 + len(load_facility("modern-hall").contract.setpoints) + len(PLANT_SERIES) + 1
    assert len(sizes) == 1 + n_scenarios * (3 + week_panels)
    for width, height, marks in sizes:
        assert width > 100 and height > 100 and marks > 0, sizes
    base, prop = saved["baseline"], saved["proposed"]
    for sc in saved["scenarios"]:
        s = sc["savings_vs_baseline"][prop]
        pue_line = f"{sc['runs'][base]['kpis']['pue']:,.3f} → {sc['runs'][prop]['kpis']['pue']:,.3f}"
        assert pue_line in text, pue_line
        assert f"{s['facility_energy_pct']:,.2f} %" in text
        assert f"{sc['runs'][prop]['kpis']['facility_energy_mwh']:,.1f}" in text
    assert "Thermal risk: inlet limit exceeded" in text and "OVERHEAT" in text
    assert any(f["scenario"] == "strict-25c" for f in saved["flags"])
    assert shot.stat().st_size > 10_000
    artifacts = os.environ.get("COOLPILOT_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "whatif-report.png")
        shutil.copy(paths["report.html"], Path(artifacts) / "whatif-report.html")
