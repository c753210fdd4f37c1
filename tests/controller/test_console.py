"""The operator console: its files, its data endpoint, and the page in a real headless Chromium.

Browser tests run the twin plant on a mosquitto broker (a fresh loopback port), a service
reading it over MQTT every :data:`PERIOD_S` and its API under uvicorn on 127.0.0.1, all on one
event loop in a background thread (as ``coolpilot serve`` runs them), with a day of recorded
history in the audit trail so the trends have something to show at once. Chromium (the system
browser, driven by Playwright; no browser download) records every request and every console
message. They need Playwright, a Chromium at ``/usr/bin/chromium`` (or ``$COOLPILOT_CHROMIUM``)
and mosquitto, and are skipped naming what is missing. Every wait is bounded by
:data:`BOUND_S`; the page's own timing is not asserted (timing belongs in
``benchmarks/bench_console.py``): "updates within two periods" is checked as the page
catching up with the cycle the service had reached, with a bounded wait.

A full-page screenshot goes to ``$COOLPILOT_ARTIFACTS/console.png`` when that names a folder.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import threading
import time
import tomllib
from collections.abc import Callable, Coroutine, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from coolpilot.controller.adapters.base import Adapter
from coolpilot.controller.api import create_app
from coolpilot.controller.audit import AuditStore, DecisionRecord
from coolpilot.controller.console import (
    ASSETS,
    CONTENT_SECURITY_POLICY,
    ENERGY_POINTS,
    MAX_POLL_S,
    MIN_POLL_S,
    STALE_PERIODS,
    local_midnight_s,
    poll_interval_s,
)
from coolpilot.controller.policies.onnx_policy import read_card
from coolpilot.controller.safety import REASONS
from coolpilot.controller.service import SERVICE_REASONS, ControllerService
from coolpilot.controller.site import MODES, SiteConfig, site_from_mapping
from coolpilot.envs.contract import POINT_NAMES, POINTS_BY_NAME, SETPOINT_NAMES, SETPOINTS_BY_NAME
from coolpilot.evaluation.i18n import MESSAGES as REPORT_MESSAGES
from tests.controller.helpers import BUNDLE, HOST, Broker, FakePlant, free_port, live_points, make, site_mapping
from tests.evaluation.test_report_zh import MISSING_GLYPHS_JS

REPO = Path(__file__).resolve().parents[2]
CONSOLE_DIR = REPO / "controller" / "console"
CHROMIUM = os.environ.get("COOLPILOT_CHROMIUM", "/usr/bin/chromium")
TOKEN = "console-token-" + "c" * 24
PERIOD_S = 0.3
"""Control period of the service under the browser (s)."""
TWIN_TICK_S = 0.1
"""Wall seconds between twin ticks: faster than the period, so no cycle reads the same values twice."""
STALE_AFTER_S = 2.0
"""The site's stale_after_s (s): a stopped plant shows in seconds; a busy machine's late message does not."""
HISTORY_STEP_S = 300.0
HISTORY_RECORDS = 288
"""A day of recorded decisions every 5 minutes before the service starts."""
BOUND_S = 20.0
"""Bound on every wait (s): far longer than anything takes; it only keeps a hang from lasting."""
BOUND_MS = BOUND_S * 1000.0
WHO, WHY = "Dana Okafor (shift lead)", "Chiller 2 alarm: hand the plant to the BMS while it is checked"

T = TypeVar("T")


# --- a service (twin or in-memory plant) with its API on loopback, on a background event loop ---------


def history(end_s: float, base: dict[str, float]) -> list[DecisionRecord]:
    """:data:`HISTORY_RECORDS` decisions every :data:`HISTORY_STEP_S` up to ``end_s``, shaped like ``base``'s plant."""
    records = []
    for i in range(HISTORY_RECORDS):
        phase = 2.0 * math.pi * i / HISTORY_RECORDS
        points: dict[str, float | None] = dict(base)
        points["inlet_temp_max_c"] = base["inlet_temp_max_c"] + 1.2 * math.sin(phase)
        points["inlet_temp_mean_c"] = base["inlet_temp_mean_c"] + 0.8 * math.sin(phase)
        points["facility_power_kw"] = base["facility_power_kw"] * (1.0 + 0.05 * math.sin(phase))
        points["cooling_power_kw"] = base["cooling_power_kw"] * (1.0 + 0.2 * math.sin(phase))
        written = {n: (s.low + s.high) / 2.0 + 0.1 * (s.high - s.low) * math.sin(phase)
                   for n, s in SETPOINTS_BY_NAME.items() if n in SETPOINT_NAMES}
        raw = {n: v + 0.02 * (SETPOINTS_BY_NAME[n].high - SETPOINTS_BY_NAME[n].low) for n, v in written.items()}
        interventions = ([{"reason": "rate_limit", "target": SETPOINT_NAMES[i % len(SETPOINT_NAMES)],
                           "detail": "step bounded"}] if i % 24 == 0 else [])
        records.append(DecisionRecord(
            cycle=i + 1, run_id="history", time_s=end_s - HISTORY_STEP_S * (HISTORY_RECORDS - i), mode="active",
            source="policy", points=points, raw_output=raw, written=written, interventions=interventions,
            model_sha256="0" * 64, latency_ms=0.5, wrote=True))
    return records


class Stack:
    """A service and its API under uvicorn on 127.0.0.1, and optionally the twin it reads, on one background loop.

    ``with Stack(...)`` starts them and waits (bounded) for the API to listen and two cycles to run;
    leaving stops the loop (the service hands back and closes its audit trail) and joins the thread.
    """

    def __init__(self, tmp_path: Path, adapter: dict[str, Any], plant: Callable[[SiteConfig], Adapter],
                 twin: Any = None, token: str | None = TOKEN, **site: Any) -> None:
        self.site = site_from_mapping({"name": "hall-a", "model": str(BUNDLE), "mode": "active",
                                       "period_s": PERIOD_S, "rate_period_s": 300, "model_timeout_s": 5.0,
                                       "safety": {"stale_after_s": STALE_AFTER_S}, "adapter": adapter,
                                       "audit": {"path": str(tmp_path / "audit.sqlite")}, **site}, "test")
        self.twin = twin
        self.service = ControllerService(self.site, plant(self.site))
        self.history_end_s = time.time() - HISTORY_STEP_S
        for rec in history(self.history_end_s + HISTORY_STEP_S, live_points()):
            self.service.audit.record(rec)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.service, token), host=HOST, port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def _main(self) -> None:
        try:
            if self.twin is not None:
                await self.twin.start()
            server = asyncio.create_task(self.server.serve())
            try:
                await self.service.run()
            finally:
                self.server.should_exit = True
                await asyncio.wait_for(server, BOUND_S)
                if self.twin is not None:
                    await self.twin.close()
        except BaseException as err:  # reported by the test thread
            self.error = err
            raise

    def __enter__(self) -> Stack:
        self.thread.start()
        self.wait(lambda: self.server.started and self.service.snapshot.cycle >= 2, "the API and two cycles")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.service.stop)
        self.thread.join(BOUND_S)
        assert not self.thread.is_alive(), "the service's loop did not stop"
        self.loop.close()

    def wait(self, predicate: Callable[[], object], what: str) -> None:
        """Poll ``predicate`` every 20 ms; fail naming ``what`` after :data:`BOUND_S` or if the loop died."""
        deadline = time.monotonic() + BOUND_S
        while not predicate():
            if self.error is not None or not self.thread.is_alive():
                pytest.fail(f"the service's loop ended while waiting for {what}: {self.error!r}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {BOUND_S} s waiting for {what}")
            time.sleep(0.02)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the service's loop and return its result (bounded)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(BOUND_S)

    def stop_api(self) -> None:
        """Stop answering HTTP (the control loop goes on)."""
        self.loop.call_soon_threadsafe(setattr, self.server, "should_exit", True)


@pytest.fixture
def twin_stack(mosquitto: Broker, tmp_path: Path) -> Iterator[Stack]:
    """The twin plant (Phoenix, July) on the broker, and an active service reading it over MQTT."""
    from coolpilot.controller.adapters.mqtt import MqttAdapter
    from coolpilot.controller.protocols.mqtt import MqttSettings
    from coolpilot.controller.twin import PlantTwin

    mqtt = {"host": mosquitto.host, "port": mosquitto.port, "prefix": "coolpilot/console", "timeout_s": 5,
            "reconnect_min_s": 1, "reconnect_max_s": 1}
    twin = PlantTwin("modern-hall", "phoenix", start_day=190, mqtt=MqttSettings(**mqtt), tick_s=TWIN_TICK_S)

    def adapter(site: SiteConfig) -> Adapter:
        assert site.adapter.mqtt is not None
        return MqttAdapter(site.adapter.mqtt)

    with Stack(tmp_path, {"kind": "mqtt", "mqtt": mqtt}, adapter, twin) as stack:
        yield stack


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Any]:
    """The system Chromium, headless (skipped naming what is missing).

    One per test: Playwright's sync API runs an event loop on the main thread while it is open,
    and the other tests here call ``asyncio.run``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; no browser download is needed)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set COOLPILOT_CHROMIUM)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Console:
    """One tab on the console, recording every request and every console error or warning."""

    def __init__(self, browser: Any, stack: Stack, path: str = "/", locale: str = "en-GB") -> None:
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale=locale)
        self.page = self.context.new_page()
        self.page.set_default_timeout(BOUND_MS)
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.problems.append(f"{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        self.page.goto(stack.url + path)
        self.page.wait_for_selector("#decision-meta[data-cycle]")

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def shown_cycle(self) -> int:
        return int(self.page.get_attribute("#decision-meta", "data-cycle") or 0)

    def wait_text(self, selector: str, needle: str) -> None:
        """Wait (bounded) until the element's text contains ``needle``."""
        self.page.wait_for_function("([s, n]) => { const e = document.querySelector(s); "
                                    "return e !== null && !e.hidden && e.textContent.includes(n); }",
                                    arg=[selector, needle])

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def console(browser: Any, twin_stack: Stack) -> Iterator[Console]:
    tab = Console(browser, twin_stack)
    yield tab
    tab.close()


def _screenshot(page: Any, tmp_path: Path, name: str = "console.png") -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    artifacts = os.environ.get("COOLPILOT_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / name)
    return shot


# --- in the browser --------------------------------------------------------------------------------


def test_the_page_shows_state_decision_trends_and_energy_without_errors_or_requests_off_the_host(
        console: Console, twin_stack: Stack, tmp_path: Path) -> None:
    page, stack = console.page, twin_stack
    assert page.url == stack.url + "/console", "GET / redirects to the console"

    # the last decision updates: the page catches up with the cycle the service had reached
    reached = stack.service.snapshot.cycle
    page.wait_for_function("n => Number(document.querySelector('#decision-meta').dataset.cycle) >= n", arg=reached)
    # the trends hold the recorded day and fill in with the live cycles (a bucket after the history's last)
    page.wait_for_function("t => Number(document.querySelector('#chart-inlet')?.dataset.lastS) > t",
                           arg=stack.history_end_s)
    assert int(page.get_attribute("#chart-inlet", "data-points") or 0) >= HISTORY_RECORDS // 2

    assert console.text("#mode-value") == "ACTIVE"
    assert "site file" in console.text("#mode-facts")
    assert stack.service.policy is not None
    model = console.text("#model-facts")
    assert stack.service.policy.name in model and stack.service.policy.sha256[:12] in model
    assert console.text("#model-health") == "Healthy" and console.text("#plant-health") == "Plant reachable"
    assert console.text("#access").startswith("viewer: read-only")
    page.wait_for_selector("#stale", state="hidden")
    assert console.text("#live").startswith("LIVE")

    # every contract point and setpoint, with units and training ranges, from the service at run time
    rows = page.eval_on_selector_all("#point-table tbody tr", "rs => rs.map(r => [r.dataset.point, "
                                     "...Array.from(r.cells).map(c => c.textContent)])")
    assert [r[0] for r in rows] == list(POINT_NAMES)
    for name, _, value, unit, training, check in rows:
        assert unit == (POINTS_BY_NAME[name].unit if POINTS_BY_NAME[name].unit != "1" else "ratio")
        assert value != "—" and "…" in training and check, (name, value, training, check)
    setpoints = page.eval_on_selector_all("#setpoint-table tbody tr", "rs => rs.map(r => r.dataset.setpoint)")
    assert setpoints == list(SETPOINT_NAMES)
    charts = page.eval_on_selector_all("#charts svg.chart", "cs => cs.map(c => c.id)")
    assert charts == ["chart-inlet", "chart-facility", "chart-cooling", *(f"chart-sp-{n}" for n in SETPOINT_NAMES)]
    inlet = console.text("#trends")
    assert "guard 26 °C" in inlet and "limit 27 °C" in inlet and "interventions" in inlet

    energy = console.text("#energy")
    assert "kWh" in energy and "Facility" in energy and "Rule-based counterfactual: not computed" in energy

    # zoom, by mouse and by keyboard
    page.click(".zoom button[data-hours='1']")
    page.wait_for_selector("#chart-inlet[data-hours='1']")
    assert page.get_attribute(".zoom button[data-hours='1']", "aria-pressed") == "true"
    page.focus(".zoom button[data-hours='168']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#chart-inlet[data-hours='168']")

    # every control has a label; no message id is missing from the strings table
    unlabelled = page.eval_on_selector_all(
        "input, select, textarea, button",
        "es => es.filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label') "
        "|| e.textContent.trim())).map(e => e.outerHTML)")
    assert unlabelled == []
    assert "⟦" not in console.text("body")

    page.click(".zoom button[data-hours='24']")
    page.wait_for_selector("#chart-inlet[data-hours='24']")
    assert _screenshot(page, tmp_path).stat().st_size > 20_000
    assert console.problems == []
    assert console.requests and all(u.startswith(stack.url + "/") for u in console.requests), console.requests


def test_without_a_token_nothing_can_act_and_forged_requests_are_refused(console: Console,
                                                                         twin_stack: Stack) -> None:
    page, stack = console.page, twin_stack
    assert console.text("#access").startswith("viewer: read-only")
    enabled = page.eval_on_selector_all(
        "fieldset.action input, fieldset.action select, fieldset.action textarea, fieldset.action button, "
        "#quick-fallback, #token-forget", "es => es.filter(e => !e.matches(':disabled')).map(e => e.id || e.outerHTML)")
    assert enabled == []
    assert page.is_enabled("#token-input")

    api = f"{stack.url}/api/v1"
    override = {"setpoint": SETPOINT_NAMES[0], "value": SETPOINTS_BY_NAME[SETPOINT_NAMES[0]].high, "duration_s": 60,
                "who": "mallory", "why": "forged"}
    with httpx.Client(timeout=BOUND_S) as client:
        for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}):
            assert client.post(f"{api}/mode", json={"mode": "off", "who": "mallory", "why": "forged"},
                               headers=headers).status_code == 401
            assert client.post(f"{api}/override", json=override, headers=headers).status_code == 401
            assert client.delete(f"{api}/override/{SETPOINT_NAMES[0]}", headers=headers).status_code == 401
    assert stack.service.snapshot.mode == "active" and dict(stack.service.snapshot.overrides) == {}
    assert stack.service.audit.mode_changes() == [] and stack.service.audit.override_changes() == []
    assert console.problems == []


def test_with_a_token_the_page_falls_back_and_sets_and_clears_an_override(console: Console,
                                                                          twin_stack: Stack) -> None:
    page, stack = console.page, twin_stack
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type='submit']")
    assert console.text("#access").startswith("operator")
    assert page.input_value("#token-input") == "", "the token does not stay in the field"
    stored = page.evaluate("() => [document.cookie, localStorage.length, sessionStorage.length]")
    assert stored == ["", 0, 0]

    page.click("#quick-fallback")
    assert page.input_value("#mode-select") == "fallback"
    assert page.evaluate("document.activeElement.id") == "mode-who"
    page.keyboard.type(WHO)
    page.fill("#mode-why", WHY)
    page.click("#mode-form button[type='submit']")
    stack.wait(lambda: stack.service.snapshot.mode == "fallback", "the service to fall back")
    console.wait_text("#mode-value", "FALLBACK")
    change = stack.service.audit.mode_changes(limit=1)[0]
    assert (change["old"], change["new"], change["who"], change["why"]) == ("active", "fallback", WHO, WHY)
    console.wait_text("#mode-facts", WHO)
    console.wait_text("#history-list", WHY)

    name = "crah_fan_speed_frac" if "crah_fan_speed_frac" in SETPOINT_NAMES else SETPOINT_NAMES[0]
    spec = SETPOINTS_BY_NAME[name]
    value = round((spec.low + spec.high) / 2.0, 2)
    page.select_option("#override-setpoint", name)
    page.fill("#override-value", str(value))
    page.fill("#override-minutes", "30")
    page.fill("#override-who", WHO)
    page.fill("#override-why", "Fan bearing noise: hold the fans steady")
    page.click("#override-form button[type='submit']")
    stack.wait(lambda: name in stack.service.snapshot.overrides, "the override")
    held = stack.service.snapshot.overrides[name]
    assert held.value == value and (held.who, held.why) == (WHO, "Fan bearing noise: hold the fans steady")
    row = f"#override-table tr[data-override='{name}']"
    page.wait_for_selector(row)
    assert "min" in console.text(row) and WHO in console.text(row)
    recorded = stack.service.audit.override_changes(limit=1)[0]
    assert (recorded["setpoint"], recorded["action"], recorded["value"], recorded["who"]) == (name, "set", value, WHO)

    page.click(f"{row} button[data-clear='{name}']")
    assert page.evaluate("document.activeElement.id") == "override-who"
    page.fill("#override-why", "Bearing checked")
    page.click("#override-clear")
    stack.wait(lambda: name not in stack.service.snapshot.overrides, "the override to be cleared")
    page.wait_for_selector(row, state="detached")
    recorded = stack.service.audit.override_changes(limit=1)[0]
    assert (recorded["setpoint"], recorded["action"], recorded["who"], recorded["why"]) == (
        name, "clear", WHO, "Bearing checked")
    console.wait_text("#history-list", "Bearing checked")
    assert console.problems == []
    assert all(u.startswith(stack.url + "/") for u in console.requests)


def test_a_stopped_plant_then_a_silent_service_show_stale_in_words(console: Console, twin_stack: Stack) -> None:
    page, stack = console.page, twin_stack
    page.wait_for_selector("#stale", state="hidden")
    assert console.text("#live").startswith("LIVE")
    stack.call(stack.twin.stop())
    console.wait_text("#stale", "plant data stale")
    assert console.text("#stale").startswith("STALE:")
    assert page.title().startswith("STALE")
    assert console.text("#live").startswith("STALE")
    assert console.problems == [], "the service still answers: nothing failed"

    stack.stop_api()
    console.wait_text("#stale", "the service does not answer")


def test_outside_the_training_range_and_levers_left_to_the_plant_are_said_in_words(browser: Any,
                                                                                    tmp_path: Path) -> None:
    """modern-hall has nine levers; the shipped bundle (contract 1) proposes the core four, the rest are the plant's."""
    points = live_points()
    hot_name = "outdoor_drybulb_c"
    high = read_card(BUNDLE)["points"][POINT_NAMES.index(hot_name)]["training_range"][1]
    points[hot_name] = min(high + 5.0, POINTS_BY_NAME[hot_name].high - 0.1)  # healthy, but never seen in training
    assert points[hot_name] > high
    plant = FakePlant(points, time.time)  # no drift: a drifting ratio steps out of its [-1, 1] range
    with Stack(tmp_path, {"kind": "csv", "csv": {"path": "unused.csv"}}, lambda site: plant,
               facility="modern-hall") as stack:
        contract, commanded = stack.service.contract, stack.service.snapshot.commanded
        assert len(contract.setpoint_names) > len(commanded.setpoint_names) == len(SETPOINT_NAMES)
        tab = Console(browser, stack)
        try:
            page = tab.page
            row = f"#point-table tr[data-point='{hot_name}']"
            tab.wait_text(row, "OUTSIDE TRAINING RANGE")
            outside = page.eval_on_selector_all(
                "#point-table tbody tr",
                "rs => rs.filter(r => r.textContent.includes('OUTSIDE')).map(r => r.dataset.point)")
            assert outside == [hot_name]
            assert page.eval_on_selector_all("#point-table tbody tr", "rs => rs.map(r => r.dataset.point)") == list(
                contract.point_names)
            rows = page.eval_on_selector_all("#setpoint-table tbody tr", "rs => rs.map(r => [r.dataset.setpoint, "
                                             "r.textContent.includes('not commanded: the plant')])")
            assert rows == [[n, n not in commanded.setpoint_names] for n in contract.setpoint_names]
            charts = page.eval_on_selector_all("#charts svg.chart", "cs => cs.map(c => c.id)")
            assert charts[3:] == [f"chart-sp-{n}" for n in commanded.setpoint_names]
            options = page.eval_on_selector_all("#override-setpoint option", "os => os.map(o => o.value)")
            assert options == list(commanded.setpoint_names), "only what the service writes can be overridden"
            assert tab.problems == []
        finally:
            tab.close()


# --- files, headers, strings ----------------------------------------------------------------------


def test_the_console_in_simplified_chinese_renders_every_glyph_and_switches_back(browser: Any, twin_stack: Stack,
                                                                                tmp_path: Path) -> None:
    stack = twin_stack
    tab = Console(browser, stack, path="/console?lang=zh-CN", locale="en-GB")  # the address wins over the browser
    page = tab.page
    try:
        assert page.get_attribute("html", "lang") == "zh-CN"
        assert tab.text("#h-state") == "状态" and tab.text("#h-decision") == "最后一次决策"
        assert tab.text("#model-health") == "正常" and tab.text("#plant-health") == "现场可达"
        assert tab.text("#access").startswith("查看者：只读")
        tab.wait_text("#live", "实时：更新于")
        page.wait_for_function("() => document.querySelector('#chart-inlet') !== null")
        assert "服务器进风温度" in tab.text("#trends") and "规则控制的反事实能耗" in tab.text("#energy")
        assert page.get_attribute("#lang-switch a[hreflang='zh-CN']", "aria-current") == "true"
        body = tab.text("body")
        assert "⟦" not in body
        chars = sorted({c for c in body if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
                        or "\uff00" <= c <= "\uffef"})
        assert len(chars) > 150, len(chars)
        glyphs = page.evaluate(MISSING_GLYPHS_JS, [chars, "\u0378"])  # U+0378 is unassigned: always the box
        assert glyphs["probeMissing"], glyphs
        assert glyphs["missing"] == [] and glyphs["blank"] == [], (
            f"drawn as the missing-glyph box in {glyphs['font']}: {''.join(glyphs['missing'])}; blank: "
            f"{''.join(glyphs['blank'])} (install a CJK font: apt-get install fonts-wqy-microhei)")
        assert _screenshot(page, tmp_path, "console-zh.png").stat().st_size > 20_000

        # the switch, by keyboard: English again, from the page's own address
        page.focus("#lang-switch a[hreflang='en']")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        page.wait_for_selector("#decision-meta[data-cycle]")
        assert page.url == stack.url + "/console?lang=en" and tab.text("#h-state") == "State"
        assert tab.problems == []
        assert all(u.startswith(stack.url + "/") for u in tab.requests), tab.requests
    finally:
        tab.close()

    # a browser that prefers Chinese gets Chinese without asking
    tab = Console(browser, stack, locale="zh-CN")
    try:
        assert tab.page.get_attribute("html", "lang") == "zh-CN" and tab.text("#h-state") == "状态"
    finally:
        tab.close()


def test_the_console_files_ship_in_the_installed_package() -> None:
    package = resources.files("coolpilot.controller.console")
    for name in ASSETS:
        assert package.joinpath(name).read_bytes() == (CONSOLE_DIR / name).read_bytes(), name
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["coolpilot.controller.console"]
    shipped = [p.name for p in CONSOLE_DIR.iterdir() if p.is_file() and p.suffix != ".py"]
    assert sorted(shipped) == sorted(ASSETS)
    for name in shipped:
        assert any(Path(name).match(p) for p in patterns), f"{name} is not in the wheel's package data {patterns}"


@pytest.fixture
def quiet_service(tmp_path: Path) -> Iterator[tuple[ControllerService, list[float]]]:
    service, _, clock = make(tmp_path)
    yield service, clock
    asyncio.run(service.shutdown())


def test_the_page_is_served_under_a_strict_content_security_policy(
        quiet_service: tuple[ControllerService, list[float]]) -> None:
    client = TestClient(create_app(quiet_service[0], None))
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "console"
    for path, media in (("/console", "text/html"), ("/console/console.js", "text/javascript"),
                        ("/console/console.css", "text/css")):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith(media)
        csp = response.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "default-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    html = client.get("/console").text
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""] and 'src="console/console.js"' in html, "one external script, nothing inline"
    assert not re.search(r"\son\w+\s*=", html) and " style=" not in html and "<style" not in html
    for name in ASSETS:
        text = (CONSOLE_DIR / name).read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|(?<![:\w])//[\w.-]+\.\w", text), f"{name} names another origin"
    js = re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", (CONSOLE_DIR / "console.js").read_text(), flags=re.S))
    for forbidden in (r"\b(localStorage|sessionStorage|indexedDB)\s*\.", r"document\.cookie", r"\.innerHTML\b",
                      r"\beval\(", r"new Function\b"):
        assert not re.search(forbidden, js), forbidden
    assert "/console" not in client.get("/openapi.json").json()["paths"], "the page is not an API operation"


def _tables() -> dict[str, dict[str, str]]:
    """The console's strings tables, by language: ``{"en": {id: text}, "zh-CN": {...}}``."""
    js = (CONSOLE_DIR / "console.js").read_text(encoding="utf-8")
    region = js[js.index("MESSAGES = {"):js.index("function pickLanguage")]
    starts = list(re.finditer(r'^ {4}"?([\w-]+)"?: \{$', region, re.M))
    tables = {}
    for m, end in zip(starts, [*(n.start() for n in starts[1:]), len(region)], strict=True):
        entries = re.findall(r'^ {6}"([\w.]+)": "((?:[^"\\]|\\.)*)",$', region[m.end():end], re.M)
        tables[m.group(1)] = dict(entries)
    return tables


def _messages() -> set[str]:
    return set(_tables()["en"])


def test_every_string_has_both_languages_with_the_same_placeholders() -> None:
    tables = _tables()
    assert sorted(tables) == ["en", "zh-CN"]
    english, chinese = tables["en"], tables["zh-CN"]
    assert len(english) > 150 and set(chinese) == set(english), set(chinese) ^ set(english)

    def fields(text: str) -> list[str]:
        return sorted(re.findall(r"\{(\w+)\}", text))

    assert {i: fields(chinese[i]) for i in english if fields(chinese[i]) != fields(english[i])} == {}
    # translated, not copied: a Chinese string keeps no English words, only names, units and acronyms
    kept = {"sha256", "HTTP", "API", "IT", "PUE", "BMS", "Cookie", "coolpilot", "kW", "ms"}
    english_left = {i: words for i, text in chinese.items()
                    if (words := set(re.findall(r"[A-Za-z][A-Za-z0-9]+", re.sub(r"\{\w+\}", "", text))) - kept)}
    assert english_left == {}
    same = {i for i in english if chinese[i] == english[i]}
    assert same <= {"model.sha", "check.reason", "value.none", "plant.limitsValue", "energy.it_power_kw",
                    "error.http"}, same
    # one term per notion, the one the what-if report's catalogue uses where they overlap
    report = " ".join(text["zh-CN"] for text in REPORT_MESSAGES.values())
    glossary = {"setpoint": ("设定值", True), "inlet": ("进风温度", True), "policy": ("策略", True),
                "cooling": ("制冷", True), "facility": ("设施", True), "training range": ("训练范围", True),
                "override": ("人工覆盖", False), "envelope": ("安全包络", False), "intervention": ("干预", False)}
    for english_term, (term, in_report) in glossary.items():
        assert not in_report or term in report, (english_term, term)
        uses = [i for i, text in english.items() if english_term in text.lower()]
        assert uses and [i for i in uses if term not in chinese[i]] == [], (english_term, term)


def test_every_ui_string_is_in_the_one_table() -> None:
    known = _messages()
    js = (CONSOLE_DIR / "console.js").read_text()
    html = (CONSOLE_DIR / "index.html").read_text()
    used = set(re.findall(r'\bt\("([\w.]+)"', js)) | set(re.findall(r'data-msg="([\w.]+)"', html))
    used |= {f"mode.meaning.{m}" for m in MODES} | {f"energy.{p}" for p in ENERGY_POINTS}
    assert used - known == set()
    assert re.findall(r"\bt\(`([^`]+)`", js) == ["mode.meaning.${status.mode}", "energy.${name}"], (
        "a message id built at run time must be listed above")
    assert len(known) > 150


def test_polling_follows_the_control_period_within_bounds() -> None:
    assert poll_interval_s(300.0) == MAX_POLL_S and poll_interval_s(0.05) == MIN_POLL_S
    assert poll_interval_s(2.0) == 2.0 and STALE_PERIODS == 2.0


# --- the console's data -----------------------------------------------------------------------------


def test_console_data_names_the_contract_reasons_card_and_who_set_the_mode(
        quiet_service: tuple[ControllerService, list[float]]) -> None:
    service, clock = quiet_service
    client = TestClient(create_app(service, TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    data = client.get("/api/v1/console").json()
    assert data["now_s"] == clock[0] and data["period_s"] == 300.0 and data["poll_s"] == MAX_POLL_S
    assert data["decision_stale_after_s"] == 600.0 and data["modes"] == list(MODES)
    assert [p["name"] for p in data["contract"]["points"]] == list(POINT_NAMES)
    assert [s["name"] for s in data["contract"]["setpoints"]] == list(SETPOINT_NAMES)
    for s in data["contract"]["setpoints"]:
        spec = SETPOINTS_BY_NAME[s["name"]]
        assert (s["unit"], s["low"], s["high"]) == (spec.unit, spec.low, spec.high)
        assert spec.low <= s["site_low"] < s["site_high"] <= spec.high
    assert data["reasons"] == {**REASONS, **SERVICE_REASONS}
    policy = service.policy
    assert policy is not None
    card = data["model"]
    assert (card["name"], card["sha256"], card["baseline"]) == (policy.name, policy.sha256, "rule-based")
    assert {k: tuple(v) for k, v in card["training_ranges"].items()} == policy.training_ranges
    assert card["facility_saving_pct"] == policy.card["evaluation"]["facility_saving_pct"]
    assert data["mode"] == {"mode": "shadow", "since_s": service.started_s, "recorded": False, "who": "", "why": ""}
    assert data["actions"] == []

    clock[0] += 60.0
    assert client.post("/api/v1/mode", json={"mode": "active", "who": WHO, "why": WHY}, headers=auth).status_code == 200
    clock[0] += 60.0
    body = {"setpoint": SETPOINT_NAMES[1], "value": SETPOINTS_BY_NAME[SETPOINT_NAMES[1]].high, "duration_s": 600.0,
            "who": "Ana", "why": "test hold"}
    assert client.post("/api/v1/override", json=body, headers=auth).status_code == 200
    clock[0] += 60.0
    cleared = client.delete(f"/api/v1/override/{SETPOINT_NAMES[1]}", params={"who": "Ben", "why": "done"},
                            headers=auth)
    assert cleared.status_code == 200
    assert client.delete(f"/api/v1/override/{SETPOINT_NAMES[1]}", headers=auth).status_code == 404
    data = client.get("/api/v1/console").json()
    assert data["mode"] == {"mode": "active", "since_s": clock[0] - 120.0, "recorded": True, "who": WHO, "why": WHY}
    assert [(a["kind"], a["target"], a["who"], a["why"]) for a in data["actions"]] == [
        ("override_clear", SETPOINT_NAMES[1], "Ben", "done"), ("override_set", SETPOINT_NAMES[1], "Ana", "test hold"),
        ("mode", "active", WHO, WHY)]
    assert data["actions"][1]["value"] == body["value"] and data["actions"][1]["expires_s"] == clock[0] - 60.0 + 600.0
    for query in ("who=", f"who={'x' * 101}", "who=a&who=b"):
        response = client.delete(f"/api/v1/override/{SETPOINT_NAMES[1]}?{query}", headers=auth)
        assert response.status_code == 422, (query, response.text)


def test_the_decision_carries_the_points_it_was_made_on(quiet_service: tuple[ControllerService, list[float]]) -> None:
    service, _ = quiet_service
    asyncio.run(service.run_cycle())
    decision = TestClient(create_app(service, None)).get("/api/v1/decision").json()
    assert decision["points"] == pytest.approx(live_points())
    assert service.audit.decisions(limit=1)[0].points == pytest.approx(decision["points"])


def test_energy_today_is_metered_energy_by_mode_with_gaps_left_out(tmp_path: Path) -> None:
    """Hand-made decisions: each reading stands until the next decision, at most two periods, by mode."""
    service, _, clock = make(tmp_path)
    try:
        midnight = local_midnight_s(clock[0])
        now = midnight + 6 * 3600.0
        clock[0] = now

        def rec(k: int, t: float, mode: str, facility: float | None, it: float = 900.0) -> DecisionRecord:
            points: dict[str, float | None] = {**dict.fromkeys(POINT_NAMES, 20.0), "facility_power_kw": facility,
                                               "it_power_kw": it, "cooling_power_kw": 100.0}
            return DecisionRecord(cycle=k, run_id="e", time_s=t, mode=mode, source="policy", points=points,
                                  raw_output=None, written=None, interventions=[], model_sha256=None, latency_ms=1.0,
                                  wrote=False)

        for r in [rec(1, midnight - 100.0, "active", 5000.0),              # yesterday: not counted
                  rec(2, now - 3000.0, "shadow", 1000.0),                  # 300 s to the next
                  rec(3, now - 2700.0, "shadow", math.nan),                # NaN meter: time counts, energy does not
                  rec(4, now - 2400.0, "active", 1200.0),                  # 600 s (the cap) of a 1800 s gap
                  rec(5, now - 600.0, "active", 3.0e6),                    # beyond the meter's range: not counted
                  rec(6, now - 300.0, "active", 1100.0)]:                  # until now: 300 s
            service.audit.record(r)
        e = TestClient(create_app(service, None)).get("/api/v1/console").json()["energy_today"]
        assert e["since_s"] == midnight and e["until_s"] == now and e["max_gap_s"] == 600.0
        shadow, active = e["by_mode"]["shadow"], e["by_mode"]["active"]
        assert shadow["decisions"] == 2 and shadow["hours"] == pytest.approx(600.0 / 3600.0)
        assert shadow["kwh"]["facility_power_kw"] == pytest.approx(1000.0 * 300.0 / 3600.0)
        assert shadow["metered_h"]["facility_power_kw"] == pytest.approx(300.0 / 3600.0)
        assert active["decisions"] == 3 and active["hours"] == pytest.approx(1200.0 / 3600.0)
        assert active["kwh"]["facility_power_kw"] == pytest.approx((1200.0 * 600.0 + 1100.0 * 300.0) / 3600.0)
        assert active["kwh"]["it_power_kw"] == pytest.approx(900.0 * 1200.0 / 3600.0)
        total = e["total"]
        assert total["decisions"] == 5 and total["hours"] == pytest.approx(1800.0 / 3600.0)
        assert total["kwh"]["cooling_power_kw"] == pytest.approx(100.0 * 1800.0 / 3600.0)
        assert total["kwh"]["facility_power_kw"] == pytest.approx(
            shadow["kwh"]["facility_power_kw"] + active["kwh"]["facility_power_kw"])
    finally:
        asyncio.run(service.shutdown())


def test_an_audit_trail_of_schema_v1_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v1.sqlite"
    with AuditStore(path) as audit:
        audit.record_mode_change(1.0, "r", "shadow", "active", "a", "b")
    with sqlite3.connect(path) as conn:  # what a v1 file looks like
        conn.execute("DROP TABLE override_changes")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with AuditStore(path) as audit:
        assert audit.pragmas()["user_version"] == 2
        assert [c["who"] for c in audit.mode_changes()] == ["a"], "what was recorded is kept"
        audit.record_override_change(2.0, "r", SETPOINT_NAMES[0], "set", 20.0, 62.0, "c", "d")
        assert [(c["who"], c["value"]) for c in audit.override_changes()] == [("c", 20.0)]


# --- never in the control loop's way -----------------------------------------------------------------

FAST_PERIOD_S = 0.05
WINDOW_PERIODS = 60
MIN_SHARE = 0.6
POLLERS = 4


def test_polling_the_console_hard_does_not_delay_the_cycles(tmp_path: Path) -> None:
    """Four clients poll what the page polls (status, console data, a week's trends) back to back."""
    site = site_from_mapping(site_mapping(tmp_path, "active", period_s=FAST_PERIOD_S, model_timeout_s=2.0), "test")
    service = ControllerService(site, FakePlant(live_points(), time.time, drift=True))
    for rec in history(time.time(), live_points()):
        service.audit.record(rec)
    app = create_app(service, TOKEN)
    answers: list[int] = []
    counted: list[int] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        loop_task = asyncio.create_task(service.run())
        stop = asyncio.Event()

        async def poll(client: httpx.AsyncClient) -> None:
            while not stop.is_set():
                for path in ("/api/v1/status", "/api/v1/console", "/api/v1/trends?hours=168"):
                    answers.append((await client.get(path)).status_code)
                    await asyncio.sleep(0)  # an in-process transport need not yield: let a starved loop show it

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test", timeout=BOUND_S) as client:
            deadline = loop.time() + BOUND_S
            while service.snapshot.cycle < 1:
                assert loop.time() < deadline and not loop_task.done(), "the loop never cycled"
                await asyncio.sleep(FAST_PERIOD_S / 5)
            pollers = [asyncio.create_task(poll(client)) for _ in range(POLLERS)]
            while len(answers) < 3 * POLLERS:
                assert loop.time() < deadline and not loop_task.done(), "the console's data were never answered"
                await asyncio.sleep(FAST_PERIOD_S / 5)
            first = service.snapshot.cycle
            await asyncio.sleep(WINDOW_PERIODS * FAST_PERIOD_S)
            counted.append(service.snapshot.cycle - first)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*pollers), timeout=BOUND_S)
        service.stop()
        await asyncio.wait_for(loop_task, timeout=BOUND_S)

    asyncio.run(go())
    assert set(answers) == {200} and len(answers) > 6 * POLLERS
    assert counted[0] >= MIN_SHARE * WINDOW_PERIODS, (
        f"{counted[0]} cycles in {WINDOW_PERIODS} periods of {FAST_PERIOD_S} s while the console was polled")
    with AuditStore(service.audit.path) as audit:
        assert audit.count(service.run_id) == audit.last_cycle(service.run_id) == service.cycle
