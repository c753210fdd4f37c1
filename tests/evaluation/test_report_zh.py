"""The report in Simplified Chinese: a complete catalogue, no English left, every glyph drawn in headless Chromium.

The catalogue test fails on a key missing a language, an empty text, or placeholders that differ between
languages (a Chinese sentence that drops a number). The no-English test renders a real what-if in zh-CN and
fails on any Latin word outside the names (policies, scenarios, facilities, climates, files, the card's facts),
units and acronyms the field writes in Latin letters. The browser test (needs Playwright and a system Chromium,
like ``test_report_browser.py``, and a CJK font: Debian ``fonts-wqy-microhei``, which ``.ci/run`` installs)
draws every distinct Chinese character of the page on a canvas in the page's own font and compares it with
the missing-glyph box; a screenshot goes to ``$COOLPILOT_ARTIFACTS/report-zh.png``.
"""

from __future__ import annotations

import html
import os
import re
import string
from pathlib import Path
from typing import Any

import pytest

from coolpilot.evaluation.i18n import LANGUAGES, MESSAGES, translator
from coolpilot.evaluation.report import render_report, write_outputs
from coolpilot.evaluation.scenarios import scenario_set_from_mapping
from coolpilot.evaluation.whatif import run_whatif

CHROMIUM = os.environ.get("COOLPILOT_CHROMIUM", "/usr/bin/chromium")
SCENARIOS = {
    "title": "广州数据中心节能评估",
    "description": "两个一天的场景：广东分时电价与电网排放因子；另一个进风限值 25 °C，使学习策略过热。",
    # The contract-1 bundle shipped before contracts followed the equipment aims its inlets near 25 °C.
    "policies": ["legacy", "rule-based", str(Path(__file__).resolve().parents[1] / "data" / "bundles"
                                            / "contract1-modern-hall-ppo"), "oracle"],
    "defaults": {"facility": "modern-hall", "climate": "chicago", "period": {"start_day": 190, "days": 1}},
    "scenarios": [
        {"name": "july-day", "carbon": {"region": "广东", "green_power_share": 0.3},
         "tariff": {"template": "guangdong", "price_per_mwh": 650, "tou_share": 0.7, "water_price_per_m3": 4.5}},
        {"name": "strict-25c", "limits": {"inlet_limit_c": 25, "supply_air_temp_c": {"low": 16, "high": 24}},
         "weather": {"offset_k": 1.5, "heat_wave": {"start_day": 189, "days": 4, "peak_k": 4}},
         "outages": {"chillers": 1}, "tariff": {"template": "beijing", "price_per_mwh": 700}},
    ],
}
LATIN_TERMS = {
    # units and symbols
    "C", "K", "h", "d", "s", "t", "m", "L", "kW", "kWh", "MWh", "CO2", "CO2e", "E",
    # metrics, equipment and standards the Chinese field writes in Latin letters
    "PUE", "WUE", "IT", "UPS", "BMS", "ASHRAE", "TC", "A1", "Guideline", "GHG", "Protocol", "The", "Green", "Grid",
    "CDU",
    "EnergyPlus", "DOE-2", "EIR", "YorkCalc", "NREL", "TMY3", "EPW", "EIA", "ONNX", "SB3", "Magnus", "Stull",
    # the product, the bundle's graph file and currencies as scenario files write them
    "coolpilot", "policy.onnx", "USD", "CNY",
}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[-.'][A-Za-z0-9_]+)*")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_key_has_every_language_with_the_same_placeholders() -> None:
    problems = []
    for key, texts in MESSAGES.items():
        if set(texts) != set(LANGUAGES):
            problems.append(f"{key}: languages {sorted(texts)}, expected {list(LANGUAGES)}")
            continue
        if any(not texts[lang].strip() for lang in LANGUAGES):
            problems.append(f"{key}: an empty text")
        fields = {lang: _fields(texts[lang]) for lang in LANGUAGES}
        if len({frozenset(f) for f in fields.values()}) != 1:
            problems.append(f"{key}: placeholders differ {fields}")
    assert not problems, "\n".join(problems)


def test_chinese_texts_are_chinese() -> None:
    """A zh-CN text equal to its English one is allowed only when it is made of terms kept in Latin letters."""
    untranslated = [key for key, texts in MESSAGES.items() if texts["zh-CN"] == texts["en"]
                    and set(WORD.findall(re.sub(r"\{[^}]*\}", "", texts["en"]))) - LATIN_TERMS]
    assert not untranslated, untranslated


def test_every_energy_component_and_setpoint_has_chinese_words() -> None:
    from coolpilot.envs.kpis import COMPONENT_NAMES
    from coolpilot.evaluation.kpis import DEADBANDS

    missing = [f"component.{c}" for c in COMPONENT_NAMES if f"component.{c}" not in MESSAGES]
    missing += [f"setpoint.{name}" for name in DEADBANDS if f"setpoint.{name}" not in MESSAGES]
    assert not missing, f"add these keys to coolpilot.evaluation.i18n.MESSAGES: {missing}"


def test_numbers_follow_the_locale() -> None:
    en, zh = translator("en"), translator("zh-CN")
    assert en.pct(12.345, 2) == "12.35 %" and zh.pct(12.345, 2) == "12.35%"
    assert en.money(-1234.4, "CNY", sign=True) == "-1,234 CNY" and zh.money(-1234.4, "CNY", sign=True) == "-1,234 元"
    assert zh.money(10.0, "USD") == "10 USD" and zh.num(None) == "—" and zh.num(float("nan")) == "—"
    assert zh.month(6) == "7月" and en.month(6) == "Jul"
    with pytest.raises(ValueError, match="unknown report language 'fr'; use one of en, zh-CN"):
        translator("fr")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_whatif(scenario_set_from_mapping(SCENARIOS, "guangzhou.yaml"), workers=1, progress=False)


def _visible_text(page: str) -> str:
    body = page[page.index("<body>"):]
    body = re.sub(r"<title>.*?</title>", " ", body, flags=re.S)  # an SVG's title repeats its visible heading
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _names(results: dict[str, Any]) -> set[str]:
    """Latin words of the run's own names and facts: they stay as written in any language."""
    texts = [results["title"], results["description"], results["source"], results["generated_at"],
             results["coolpilot_version"]]
    for p in results["policies"]:
        texts += [str(v) for v in p.values() if isinstance(v, str | int | float)]
        texts += [str(c) for c in p.get("training_climates") or []]
        texts += [str(c) for c in (p.get("evaluation") or {}).get("climates") or []]
    for sc in results["scenarios"]:
        texts += [sc["name"], sc["settings"]["facility"], sc["settings"]["climate"]]
    return {w for text in texts for w in WORD.findall(text)}


def test_the_chinese_report_has_no_english_left(results: dict[str, Any]) -> None:
    text = _visible_text(render_report(results, "zh-CN"))
    allowed = LATIN_TERMS | _names(results)
    left = sorted({w for w in WORD.findall(text) if w not in allowed and "_" not in w and not re.search(r"\d", w)})
    assert not left, f"English words in the zh-CN report: {left}"
    for phrase in ("管理摘要", "冷水机组", "冷却塔", "自然冷却", "碳排放", "电费", "热风险：进风温度超限", "峰/平/谷"):
        assert phrase in text, phrase
    english = _visible_text(render_report(results, "en"))
    assert "Executive summary" in english and "管理摘要" not in english


def test_the_chinese_report_names_its_sources_and_prices(results: dict[str, Any]) -> None:
    text = _visible_text(render_report(results, "zh-CN"))
    assert "电网排放因子 0.4403 t/MWh，广东（生态环境部 国家统计局《关于发布2022年电力二氧化碳排放因子的公告》" in text
    assert "粤发改价格〔2021〕331号" in text and "京发改规〔2023〕11号" in text
    july = results["scenarios"][0]["runs"]["rule-based"]["kpis"]
    assert july["currency"] == "CNY" and f"{july['total_cost']:,.0f} 元" in text
    assert f"{results['scenarios'][0]['savings_vs_baseline']['modern-hall-ppo']['facility_energy_pct']:,.2f}%" in text


def test_the_command_rerenders_a_report_in_chinese(results: dict[str, Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from coolpilot.cli import main
    from coolpilot.commands.whatif import summary_text

    saved = write_outputs(results, tmp_path / "run")["results.json"]
    assert main(["whatif", str(saved), "--from-results", "--lang", "zh-CN", "--out", str(tmp_path / "zh")]) == 0
    assert "管理摘要" in (tmp_path / "zh" / "report.html").read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as refused:
        main(["whatif", str(saved), "--from-results", "--lang", "fr"])
    assert refused.value.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err
    summary = summary_text(results, "zh-CN")
    assert summary.startswith("假设分析完成：广州数据中心节能评估")
    assert "热风险：modern-hall-ppo 在 strict-25c 中" in summary


MISSING_GLYPHS_JS = """
([chars, probe]) => {
  const font = getComputedStyle(document.body).fontFamily;
  const canvas = document.createElement('canvas');
  canvas.width = 40; canvas.height = 40;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (ch) => {
    ctx.clearRect(0, 0, 40, 40);
    ctx.font = '28px ' + font;
    ctx.fillText(ch, 4, 30);
    return Array.from(ctx.getImageData(0, 0, 40, 40).data).join(',');
  };
  const tofu = draw(probe);
  return {font, probeMissing: draw(probe) === tofu,
          missing: chars.filter((ch) => draw(ch) === tofu), blank: chars.filter((ch) => !/[^0,]/.test(draw(ch)))};
}
"""


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; no browser download is needed)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set COOLPILOT_CHROMIUM)")
    return sync_playwright


def test_the_chinese_report_renders_every_glyph_in_chromium(results: dict[str, Any], tmp_path: Path) -> None:
    sync_playwright = _playwright()
    paths = write_outputs(results, tmp_path, lang="zh-CN")
    page_html = paths["report.html"].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page_html
    chars = sorted({c for c in _visible_text(page_html) if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
                    or "\uff00" <= c <= "\uffef"})
    assert len(chars) > 300, len(chars)
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(paths["report.html"].as_uri())
        page.wait_for_load_state("load")
        glyphs = page.evaluate(MISSING_GLYPHS_JS, [chars, "\u0378"])  # U+0378 is unassigned: always the box
        heading = page.inner_text("h2 >> nth=1")
        shot = tmp_path / "report-zh.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert console == [], console
    assert heading == "管理摘要"
    assert glyphs["probeMissing"], glyphs
    assert glyphs["missing"] == [] and glyphs["blank"] == [], (
        f"characters drawn as the missing-glyph box in {glyphs['font']}: {''.join(glyphs['missing'])}; blank: "
        f"{''.join(glyphs['blank'])} (install a CJK font: apt-get install fonts-wqy-microhei)")
    assert shot.stat().st_size > 10_000
    artifacts = os.environ.get("COOLPILOT_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "report-zh.png").write_bytes(shot.read_bytes())
        (Path(artifacts) / "report-zh.html").write_text(page_html, encoding="utf-8")
