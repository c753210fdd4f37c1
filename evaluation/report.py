"""The what-if report: one self-contained HTML page, plus ``results.json`` and CSV files.

The page works offline: inline CSS, plots as inline SVG, no script, no CDN, no external
file. It reads, top to bottom, as a manager and an operator would: thermal risk first (any
policy above its inlet limit is flagged in red, and its savings are marked as not valid),
then the executive summary (savings of the proposed policy against the site's current
control in MWh, %, t CO2e, money and water; PUE before and after), then one section per
scenario (settings, every KPI of every policy with units, savings, plots: PUE per month,
energy breakdown, hottest-inlet distribution, the peak week's temperatures, every setpoint of
the facility's contract and the plant's response: chillers and tower cells running, flows),
then assumptions and methodology, and the policies' cards.

The page is a jinja2 template (``evaluation/templates/report.html.j2``, its tables in
``macros.html.j2``, its style in ``report.css``; shipped as package data) rendered with
autoescape on. The charts are drawn here as SVG text by hand, deliberately: a report that
must open offline, without any script, rules out the JavaScript charting libraries, and a
plotting library that writes static SVG (matplotlib) would add a heavy dependency to the
what-if path for a few lines and bars. Their text is escaped here; the template inserts
them as markup.

Everything is rendered from the results mapping of :func:`coolpilot.evaluation.whatif.run_whatif`
(the content of ``results.json``), so a report can be re-rendered from that file, in English or
Simplified Chinese: every word of the page comes from the catalogue of :mod:`coolpilot.evaluation.i18n`.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from coolpilot.envs.contract import SETPOINT_SPECS
from coolpilot.envs.jsonsafe import json_safe
from coolpilot.envs.kpis import COMPONENT_NAMES, COOLING_COMPONENTS, LIQUID_COMPONENTS
from coolpilot.evaluation.i18n import (
    DEFAULT_LANGUAGE,
    MESSAGES,
    Translator,
    check_language,
    format_number,
    text_width_em,
    translator,
)
from coolpilot.evaluation.kpis import DEADBANDS, MONTH_LABELS, TRIM_THRESHOLD_KW
from coolpilot.evaluation.scenarios import DEFAULT_GRID_FACTOR_T_PER_MWH, DEFAULT_PRICE_PER_MWH

KIND_COLORS = {"legacy": "#7f7f7f", "rule-based": "#1f77b4", "oracle": "#222222", "recorded": "#8c6d31"}
BUNDLE_COLORS = ("#e8710a", "#2ca02c", "#9467bd", "#d62728", "#17becf", "#8c564b")
COMPONENT_COLORS = {
    "crah_fans": "#4e79a7", "chillers": "#e15759", "tower_fans": "#76b7b2", "chw_pumps": "#59a14f",
    "cw_pumps": "#edc948", "distribution_losses": "#b07aa1", "lighting": "#ff9da7",
    "cdu_pumps": "#9c755f", "fws_pumps": "#bab0ac", "dry_cooler_fans": "#86bcb6",
}
"""A fixed color per non-IT energy component (names from :data:`coolpilot.envs.kpis.ENERGY_COMPONENTS`)."""
IDENTITY_KEYS = ("facility", "climate", "policy")
"""Keys of a run's KPIs that name it rather than measure it; the CSV rows say the scenario and policy instead."""


# --- formatting ----------------------------------------------------------------------------------


def _esc(text: object) -> str:
    """Escaped text for the hand-drawn SVG (the template escapes everything else itself)."""
    return html.escape(str(text), quote=True)


def policy_colors(results: dict[str, Any]) -> dict[str, str]:
    """A fixed color per policy: by kind for the baselines and the oracle, a palette for bundles."""
    colors, k = {}, 0
    for p in results["policies"]:
        if p["kind"] == "bundle":
            colors[p["label"]] = BUNDLE_COLORS[k % len(BUNDLE_COLORS)]
            k += 1
        else:
            colors[p["label"]] = KIND_COLORS[p["kind"]]
    return colors


# --- SVG charts ----------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``low``..``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) * 0.1 or 1.0)
    raw = (high - low) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = [round(math.floor(low / step) * step, 10)]
    while ticks[-1] < high - 1e-9 * step:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks if len(ticks) > 1 else [ticks[0], ticks[0] + step]


def _tick_label(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:,.2f}".rstrip("0").rstrip(".")


@dataclass
class Frame:
    """Plot area of a chart and its linear scales."""

    width: int
    height: int
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    left: int = 58
    right: int = 18
    top: int = 28
    bottom: int = 44

    def x(self, v: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return self.left + (v - self.x_min) / span * (self.width - self.left - self.right)

    def y(self, v: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return self.height - self.bottom - (v - self.y_min) / span * (self.height - self.top - self.bottom)


def _svg_open(title: str, width: int, height: int) -> list[str]:
    return [f'<svg class="plot" role="img" aria-label="{_esc(title)}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
            f'<title>{_esc(title)}</title>',
            f'<text x="{width / 2:.0f}" y="16" class="ct">{_esc(title)}</text>']


def _axes(f: Frame, y_ticks: Sequence[float], y_label: str, x_ticks: Iterable[tuple[float, str]], x_label: str
          ) -> list[str]:
    out = []
    for t in y_ticks:
        y = f.y(t)
        out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{f.left - 5}" y="{y + 3.5:.1f}" class="yt">{_esc(_tick_label(t))}</text>')
    base = f.height - f.bottom
    out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{base}" y2="{base}" class="axis"/>')
    out.append(f'<line x1="{f.left}" x2="{f.left}" y1="{f.top}" y2="{base}" class="axis"/>')
    for x, label in x_ticks:
        px = f.x(x)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{base}" y2="{base + 4}" class="axis"/>')
        out.append(f'<text x="{px:.1f}" y="{base + 15}" class="xt">{_esc(label)}</text>')
    mid_x, mid_y = (f.left + f.width - f.right) / 2, (f.top + base) / 2
    out.append(f'<text x="{mid_x:.0f}" y="{base + 30}" class="xl">{_esc(x_label)}</text>')
    out.append(f'<text transform="translate(13,{mid_y:.0f}) rotate(-90)" class="yl">{_esc(y_label)}</text>')
    return out


def _legend(items: Sequence[tuple[str, str, bool]], x: float, y: float, width: int) -> list[str]:
    out, cx, cy = [], x, y
    for label, color, dashed in items:
        w = 26 + 6.2 * text_width_em(label)
        if cx + w > width - 4 and cx > x:
            cx, cy = x, cy + 14
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(f'<line x1="{cx:.0f}" x2="{cx + 16:.0f}" y1="{cy:.0f}" y2="{cy:.0f}" stroke="{color}" '
                   f'stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{cx + 20:.0f}" y="{cy + 3.5:.0f}" class="lg">{_esc(label)}</text>')
        cx += w
    return out


@dataclass
class Series:
    """A line of a line chart."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    color: str
    dashed: bool = False


@dataclass
class HLine:
    """A horizontal reference line (a limit)."""

    y: float
    label: str
    color: str = "#c00000"


@dataclass
class ChartSpec:
    """Title, axis labels and size of a chart."""

    title: str
    x_label: str
    y_label: str
    width: int = 520
    height: int = 280
    x_ticks: list[tuple[float, str]] = field(default_factory=list)


def line_chart(spec: ChartSpec, lines: Sequence[Series], hlines: Sequence[HLine] = (), markers: bool = False,
               vlines: Sequence[tuple[float, str]] = ()) -> str:
    """An SVG line chart; gaps where a value is None; ``vlines`` are (x, label) limit marks."""
    xs = [x for s in lines for x in s.xs]
    ys = [y for s in lines for y in s.ys if y is not None] + [h.y for h in hlines]
    y_ticks = nice_ticks(min(ys, default=0.0), max(ys, default=1.0))
    legend_rows = (len(lines) + 3) // 4
    f = Frame(spec.width, spec.height + 14 * legend_rows, min(xs, default=0.0), max(xs, default=1.0),
              y_ticks[0], y_ticks[-1], bottom=48 + 14 * legend_rows)
    if f.x_max == f.x_min:
        f.x_min, f.x_max = f.x_min - 0.5, f.x_max + 0.5
    x_ticks = spec.x_ticks or [(t, _tick_label(t)) for t in nice_ticks(f.x_min, f.x_max) if f.x_min <= t <= f.x_max]
    out = _svg_open(spec.title, f.width, f.height) + _axes(f, y_ticks, spec.y_label, x_ticks, spec.x_label)
    for h in hlines:
        y = f.y(h.y)
        out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{h.color}" '
                   'stroke-width="1.2" stroke-dasharray="6 3"/>')
        out.append(f'<text x="{f.width - f.right - 2}" y="{y - 3:.1f}" class="hl" fill="{h.color}">{_esc(h.label)}'
                   '</text>')
    for v, label in vlines:
        if f.x_min <= v <= f.x_max:
            x = f.x(v)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{f.top}" y2="{f.height - f.bottom}" stroke="#c00000" '
                       f'stroke-width="1.2" stroke-dasharray="6 3"/><text x="{x + 3:.1f}" y="{f.top + 10}" '
                       f'class="hl2" fill="#c00000">{_esc(label)}</text>')
    for s in lines:
        segments: list[list[str]] = [[]]
        for xv, yv in zip(s.xs, s.ys, strict=True):
            if yv is None:
                segments.append([])
            else:
                segments[-1].append(f"{f.x(xv):.1f},{f.y(yv):.1f}")
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for seg in segments:
            if len(seg) > 1:
                out.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{s.color}" stroke-width="1.8"'
                           f'{dash}/>')
            if markers or len(seg) == 1:
                out += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.8" fill="{s.color}"/>'
                        for p in seg]
    out += _legend([(s.label, s.color, s.dashed) for s in lines], f.left, f.height - f.bottom + 44, f.width)
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(spec: ChartSpec, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], str]],
              stacked: bool = False, value_digits: int = 1) -> str:
    """An SVG bar chart: grouped (one bar per series per category) or stacked; None values are left out."""
    if stacked:
        totals = [sum(v or 0.0 for _, vals, _ in series for v in [vals[i]]) for i in range(len(categories))]
        lo, hi = 0.0, max(totals, default=1.0)
    else:
        values = [v for _, vals, _ in series for v in vals if v is not None]
        lo, hi = min([0.0, *values]), max([0.0, *values])
    y_ticks = nice_ticks(lo, hi)
    legend_rows = (len(series) + 3) // 4
    f = Frame(spec.width, spec.height + 14 * legend_rows, 0.0, float(len(categories)), y_ticks[0], y_ticks[-1],
              bottom=48 + 14 * legend_rows)
    out = _svg_open(spec.title, f.width, f.height) + _axes(f, y_ticks, spec.y_label, [], spec.x_label)
    slot = (f.width - f.left - f.right) / max(len(categories), 1)
    zero = f.y(0.0)
    for i, cat in enumerate(categories):
        x0 = f.left + i * slot + slot * 0.12
        usable = slot * 0.76
        if stacked:
            acc = 0.0
            for label, vals, color in series:
                v = vals[i] or 0.0
                y_top, y_bottom = f.y(acc + v), f.y(acc)
                out.append(f'<rect x="{x0:.1f}" y="{y_top:.1f}" width="{usable:.1f}" '
                           f'height="{max(y_bottom - y_top, 0.0):.1f}" fill="{color}"><title>{_esc(cat)}: '
                           f'{_esc(label)} {format_number(v, value_digits)}</title></rect>')
                acc += v
            out.append(f'<text x="{x0 + usable / 2:.1f}" y="{f.y(acc) - 3:.1f}" class="bv">'
                       f'{format_number(acc, value_digits)}</text>')
        else:
            w = usable / max(len(series), 1)
            for k, (label, vals, color) in enumerate(series):
                bar = vals[i]
                if bar is None:
                    continue
                y = f.y(bar)
                top, height = min(y, zero), abs(zero - y)
                out.append(f'<rect x="{x0 + k * w:.1f}" y="{top:.1f}" width="{max(w - 1.5, 1.0):.1f}" '
                           f'height="{max(height, 0.8):.1f}" fill="{color}"><title>{_esc(cat)}: {_esc(label)} '
                           f'{format_number(bar, value_digits)}</title></rect>')
                text_y = (top - 3) if bar >= 0 else (top + height + 10)
                out.append(f'<text x="{x0 + (k + 0.5) * w:.1f}" y="{text_y:.1f}" class="bv">'
                           f'{format_number(bar, value_digits)}</text>')
        short = cat if len(cat) <= 18 else cat[:17] + "…"
        out.append(f'<text x="{f.left + (i + 0.5) * slot:.1f}" y="{f.height - f.bottom + 15}" class="xt">'
                   f'{_esc(short)}</text>')
    base = f.height - f.bottom
    out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{zero:.1f}" y2="{zero:.1f}" class="axis"/>')
    out += _legend([(label, color, False) for label, _, color in series], f.left, base + 44, f.width)
    out.append("</svg>")
    return "\n".join(out)


@dataclass(frozen=True)
class Figure:
    """A chart and its caption, as the template places them."""

    svg: Markup
    caption: str


def _figure(svg: str, caption: str) -> Figure:
    return Figure(Markup(svg), caption)  # the SVG is drawn above, its text escaped by _esc


# --- the page's content, per section ---------------------------------------------------------------


def _period_text(settings: dict[str, Any], t: Translator) -> str:
    span = t.text("period.span", days=f"{settings['days']:g}", start=f"{settings['start_day']:g}")
    name = settings["period"]
    if name.startswith("day "):
        return span
    return t.text("period.named", name=t.period(name) if f"period.{name}" in MESSAGES else name, span=span)


def _summary(results: dict[str, Any], colors: dict[str, str], t: Translator) -> dict[str, Any] | None:
    """The executive summary's rows, headline and chart; None when only the baseline ran."""
    base, prop, oracle = results["baseline"], results["proposed"], results["oracle"]
    if prop is None:
        return None
    rows, valid_pcts = [], []
    for sc in results["scenarios"]:
        s = sc["savings_vs_baseline"][prop]
        if s["thermal_ok"] and s["facility_energy_pct"] is not None:
            valid_pcts.append(s["facility_energy_pct"])
        rows.append({"name": sc["name"], "period": _period_text(sc["settings"], t), "saving": s,
                     "baseline": sc["runs"][base]["kpis"], "proposed": sc["runs"][prop]["kpis"]})
    span = ""
    if valid_pcts:
        lo, hi = min(valid_pcts), max(valid_pcts)
        span = (t.text("summary.span_one", value=t.pct(lo, 2)) if abs(hi - lo) < 0.005
                else t.text("summary.span_range", low=t.num(lo, 2), high=t.pct(hi, 2)))
    others = [p["label"] for p in results["policies"] if p["label"] != base]
    cats = [sc["name"] for sc in results["scenarios"]]
    series = [(label, [sc["savings_vs_baseline"][label]["facility_energy_pct"] for sc in results["scenarios"]],
               colors[label]) for label in others]
    chart = _figure(bar_chart(ChartSpec(t.text("chart.summary_title", baseline=base), t.text("chart.summary_x"),
                                        t.text("chart.summary_y"),
                                        width=max(560, 110 * len(cats) * max(1, len(others)) // 2)),
                              cats, series, value_digits=2),
                    t.text("chart.summary_caption", baseline=base)
                    + (t.text("chart.summary_caption_oracle", oracle=oracle) if oracle
                       else t.text("chart.summary_caption_end")))
    return {"valid": len(valid_pcts), "span": span, "rows": rows, "chart": chart}


def _template_name(name: str, t: Translator) -> str:
    """A tariff template's name in the report's language (as recorded if no longer bundled)."""
    from coolpilot.envs.grid import GridDataError, tariff_template

    try:
        template = tariff_template(name)
    except GridDataError:
        return name
    return template.zh if t.lang == "zh-CN" else template.en


def _tariff_text(tariff: dict[str, Any], t: Translator) -> str:
    cur = t.currency(tariff["currency"])
    price = f"{tariff['price_per_mwh']:g}"
    if tariff.get("archetype"):
        text = t.text("tariff.archetype", name=t.text(f"archetype.{tariff['archetype']}"), price=price, currency=cur)
    elif tariff.get("template"):
        text = t.text("tariff.flat_price_of_template", price=price, currency=cur) + t.text(
            "tariff.template", name=_template_name(tariff["template"], t), share=f"{100 * tariff['tou_share']:g}",
            source=tariff.get("template_source") or "")
    else:
        windows = "; ".join(t.text("tariff.window", name=x["name"], start=f"{x['start_hour']:g}",
                                   end=f"{x['end_hour']:g}", price=f"{x['price_per_mwh']:g}")
                            + (t.text("tariff.weekdays") if x["weekdays_only"] else "") for x in tariff["time_of_use"])
        text = t.text("tariff.flat", price=price, currency=cur) + (t.text("tariff.windows", windows=windows)
                                                                 if windows else "")
    if tariff.get("demand_charge_per_kw_month") is not None:
        text += t.text("tariff.demand", price=f"{tariff['demand_charge_per_kw_month']:g}", currency=cur)
        window = tariff.get("demand_window")
        if window:
            text += t.text("tariff.demand_window", start=f"{window['start_hour']:g}", end=f"{window['end_hour']:g}") \
                + (t.text("tariff.weekdays") if window["weekdays_only"] else "")
    if tariff.get("forecast_uncertainty", "none") != "none":
        text += t.text("tariff.forecast", level=t.text(f"forecast.{tariff['forecast_uncertainty']}"))
    if tariff["water_price_per_m3"] is not None:
        return text + t.text("tariff.water", price=f"{tariff['water_price_per_m3']:g}", currency=cur)
    return text + t.text("tariff.water_none")


def _region_words(carbon: dict[str, Any], t: Translator) -> tuple[str, str]:
    """The region's name and its factor's source in the report's language (as recorded if no longer bundled)."""
    from coolpilot.envs.grid import GridDataError, factor_source, grid_factor

    try:
        f = grid_factor(carbon["region"])
    except GridDataError:
        return carbon["region"], carbon.get("factor_source") or ""
    src = factor_source(f)
    if t.lang == "zh-CN":
        return f.zh, f"{src.title}，{src.published}"
    return f.en, f"{src.title_en}, {src.published}"


def _carbon_text(carbon: dict[str, Any], t: Translator) -> str:
    factor = f"{carbon['grid_t_co2_per_mwh']:g}"
    if carbon["hourly_csv"]:
        grid = t.text("carbon.hourly", file=Path(carbon["hourly_csv"]).name)
    elif carbon.get("region"):
        region, source = _region_words(carbon, t)
        grid = t.text("carbon.region", factor=factor, region=region, source=source)
    else:
        grid = t.text("carbon.constant", factor=factor)
    if carbon.get("solar_share"):
        grid += t.text("carbon.solar", share=f"{100 * carbon['solar_share']:.0f}")
    if carbon.get("forecast_uncertainty", "none") != "none":
        grid += t.text("carbon.forecast", level=t.text(f"forecast.{carbon['forecast_uncertainty']}"))
    return t.text("carbon.green", grid=grid, share=f"{100 * carbon['green_power_share']:.0f}")


def _settings_items(sc: dict[str, Any], t: Translator) -> list[tuple[str, str]]:
    """The scenario's settings as (what, value) lines."""
    s = sc["settings"]
    load, lim, out, w = s["load"], s["limits"], s["outages"], s["weather"]
    history = s.get("history")
    items = [(t.text("setting.facility"), s["facility"])]
    if history:
        items += [(t.text("setting.history"), history["files"]),
                  (t.text("setting.climate"), t.text("history.weather_gaps", climate=s["climate"])
                   if history["climate_given"] else t.text("history.weather")),
                  (t.text("setting.period"), _period_text(s, t)),
                  (t.text("setting.load"), t.text("history.load"))]
    else:
        items += [(t.text("setting.climate"), s["climate"]), (t.text("setting.period"), _period_text(s, t)),
                  (t.text("setting.load"), t.text("load.text", level=t.num(load["level"], 2),
                                                  growth=t.num(100 * load["growth_per_year"], 0)))]
    ranges = [t.text("limits.range", name=t.setpoint(name), low=f"{r['low']:g}", high=f"{r['high']:g}")
              for name, r in lim.items() if isinstance(r, dict)]
    limit_text = t.text("limits.inlet", limit=t.num(lim["inlet_limit_c"], 1)) + (f"; {', '.join(ranges)}"
                                                                                  if ranges else "")
    items.append((t.text("setting.limits"), limit_text))
    outs = []
    if out["chillers"]:
        outs.append(t.text("outage.chillers", n=out["chillers"]))
    if out["tower_cells"]:
        outs.append(t.text("outage.tower_cells", n=out["tower_cells"]))
    outs += [t.text("outage.crah", share=f"{100 * c_['share_out']:.0f}", zone=c_["zone"]) for c_ in out["crahs"]]
    items.append((t.text("setting.outages"), ", ".join(outs) or t.text("outage.none")))
    shifts = []
    if w["offset_k"]:
        shifts.append(t.text("weather.offset", k=f"{w['offset_k']:+g}"))
    if w["heat_wave"]:
        hw = w["heat_wave"]
        shifts.append(t.text("weather.heat_wave", k=f"{hw['peak_k']:g}", start=f"{hw['start_day']:g}",
                             days=f"{hw['days']:g}"))
    weather = (t.text("weather.shifted", shifts=", ".join(shifts), humidity=t.text(f"weather.{w['humidity']}"))
               if shifts else t.text("weather.as_recorded"))
    if not history:
        items.append((t.text("setting.weather"), weather))
    items.append((t.text("setting.tariff"), _tariff_text(s["tariff"], t)))
    items.append((t.text("setting.carbon"), _carbon_text(s["carbon"], t)))
    return items


KPI_ROWS: tuple[tuple[str, str, int], ...] = (
    ("pue", "1", 3),
    ("facility_energy_mwh", "MWh", 1),
    ("it_energy_mwh", "MWh", 1),
    ("cooling_energy_mwh", "MWh", 1),
    ("non_it_energy_mwh", "MWh", 1),
    *((f"energy_by_component_mwh.{c}", "MWh", 1) for c in COMPONENT_NAMES if c != "it" and c not in LIQUID_COMPONENTS),
    ("peak_facility_power_kw", "kW", 0),
    ("water_m3", "m³", 0),
    ("wue_l_per_kwh", "L/kWh", 3),
    ("carbon_location_t_co2e", "t CO2e", 1),
    ("carbon_after_green_t_co2e", "t CO2e", 1),
    ("total_cost", "currency", 0),
    ("inlet_temp_max_c", "°C", 2),
    ("degree_hours_above_27c", "K·h", 1),
    ("hours_above_27c", "h", 1),
    ("degree_hours_above_limit", "K·h", 1),
    ("free_cooling_hours", "h", 0),
    ("full_free_cooling_hours", "h", 0),
    ("setpoint_changes_total", "1", 0),
    ("setpoint_changes_per_day", "1/d", 1),
    ("chiller_starts", "1", 0),
    ("chiller_starts_per_day", "1/d", 1),
)
"""The KPI table: (key, dotted into a run's KPIs; unit, or ``currency`` for the scenario's; digits). Row names are
the catalogue's ``kpi.<key>`` (``component.<name>`` for the energy components, indented)."""
PV_KPI_ROWS: tuple[tuple[str, str, int], ...] = (
    ("pv_energy_mwh", "MWh", 1),
    ("pv_self_consumption_pct", "%", 1),
    ("pv_share_of_facility_pct", "%", 1),
    ("pv_curtailed_mwh", "MWh", 1),
    ("grid_energy_mwh", "MWh", 1),
    ("peak_grid_power_kw", "kW", 0),
)
"""Rows added to the KPI table when a run of the scenario has on-site PV (cost and carbon are then on grid power;
PUE stays facility / IT)."""
LIQUID_KPI_ROWS: tuple[tuple[str, str, int], ...] = (
    ("liquid.case_temp_max_c", "°C", 1),
    ("liquid.case_limit_c", "°C", 0),
    ("liquid.hours_above_case_limit", "h", 1),
    ("liquid.degree_hours_above_case_limit", "K·h", 1),
    ("liquid.throttled_gpu_energy_mwh", "MWh", 2),
    ("liquid.cdu_heat_mwh", "MWh", 0),
    ("liquid.trim_hours", "h", 0),
    ("liquid.trim_heat_mwh", "MWh", 1),
    ("liquid.fws_supply_mean_c", "°C", 1),
    ("liquid.fws_supply_max_c", "°C", 1),
    ("liquid.cdu_pump_energy_mwh", "MWh", 1),
    ("liquid.fws_pump_energy_mwh", "MWh", 1),
    ("liquid.dry_cooler_fan_energy_mwh", "MWh", 1),
)
"""Rows added for a facility with liquid cooling (coolpilot.evaluation.kpis.LiquidKpis)."""
HEAT_REUSE_KPI_ROWS: tuple[tuple[str, str, int], ...] = (
    ("heat_reuse.reused_heat_mwh", "MWh", 1),
    ("heat_reuse.heat_demand_mwh", "MWh", 1),
    ("heat_reuse.demand_met_pct", "%", 1),
    ("heat_reuse.heat_pump_energy_mwh", "MWh", 1),
    ("heat_reuse.heat_pump_cop_mean", "1", 2),
    ("heat_reuse.total_energy_mwh", "MWh", 1),
    ("heat_reuse.pue_total", "1", 3),
    ("heat_reuse.erf", "1", 3),
    ("heat_reuse.ere", "1", 3),
    ("heat_reuse.heat_price_per_mwh", "currency/MWh", 0),
    ("heat_reuse.heat_revenue", "currency", 0),
    ("heat_reuse.electricity_cost", "currency", 0),
    ("heat_reuse.net_cost", "currency", 0),
    ("heat_reuse.displaced_kg_per_kwh", "kg/kWh", 3),
    ("heat_reuse.carbon_avoided_t_co2e", "t CO2e", 1),
    ("heat_reuse.net_carbon_t_co2e", "t CO2e", 1),
)
"""Rows added for a facility with a heat pump (coolpilot.evaluation.kpis.HeatReuseKpis)."""
OPTIONAL_KPI_ROWS: dict[str, tuple[tuple[str, str, int], ...]] = {"liquid": LIQUID_KPI_ROWS,
                                                                  "heat_reuse": HEAT_REUSE_KPI_ROWS}
"""Rows of each KPI group only a facility with that equipment has (coolpilot.evaluation.kpis.OPTIONAL_BLOCKS)."""
BAD_WHEN_POSITIVE = ("degree_hours_above_limit", "liquid.hours_above_case_limit",
                     "liquid.degree_hours_above_case_limit", "liquid.throttled_gpu_energy_mwh")
"""KPI rows whose cell is marked bad when above zero: inlets or GPU cases above their limit, throttled GPUs."""


def _get(k: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        k = k[part]
    return k


def _row_name(key: str, t: Translator) -> str:
    if key.startswith("energy_by_component_mwh."):
        return "  " + t.component(key.rpartition(".")[2])
    return t.text(f"kpi.{key}")


def _kpi_table(sc: dict[str, Any], t: Translator) -> dict[str, Any]:
    """Every KPI of every policy in the scenario, formatted; a degree-hour above the limit marked bad."""
    labels = list(sc["runs"])
    rows = []
    has_pv = any(sc["runs"][label]["kpis"].get("pv_energy_mwh", 0.0) > 0.0 for label in labels)
    optional = tuple(row for block, block_rows in OPTIONAL_KPI_ROWS.items()
                     if all(block in sc["runs"][label]["kpis"] for label in labels) for row in block_rows)
    currency = sc["runs"][labels[0]]["kpis"]["currency"]
    for key, unit, digits in KPI_ROWS + (PV_KPI_ROWS if has_pv else ()) + optional:
        cells = []
        for label in labels:
            k = sc["runs"][label]["kpis"]
            v = _get(k, key)
            cells.append({"text": t.money(v, k["currency"]) if unit == "currency" else t.num(v, digits),
                          "bad": bool(key in BAD_WHEN_POSITIVE and v and v > 0)})
        unit_shown = (t.currency(currency) if unit == "currency" else
                      t.text("unit.currency_per_mwh", currency=t.currency(currency)) if unit == "currency/MWh"
                      else unit)
        rows.append({"name": _row_name(key, t), "unit": unit_shown, "cells": cells})
    return {"labels": labels, "rows": rows, "thermal_ok": [sc["runs"][label]["kpis"]["thermal_ok"] for label in labels]}


def _slice_label(label: str, t: Translator) -> str:
    """A monthly slice's label ('Jul') or a daily one's ('day 190') in the report's language."""
    if label in MONTH_LABELS:
        return t.month(MONTH_LABELS.index(label))
    return label.replace("day ", "")


def _pue_chart(sc: dict[str, Any], colors: dict[str, str], t: Translator) -> Figure:
    first = next(iter(sc["runs"].values()))["kpis"]
    use_months = len(first["monthly"]) >= 2
    key = "monthly" if use_months else "daily"
    slices = first[key]
    xs = list(range(len(slices)))
    step = max(1, len(slices) // 12)
    ticks = [(float(i), _slice_label(s["label"], t)) for i, s in enumerate(slices) if i % step == 0]
    lines = [Series(label, xs, [s["pue"] for s in run["kpis"][key]], colors[label])
             for label, run in sc["runs"].items()]
    title = t.text("chart.pue_monthly" if use_months else "chart.pue_daily")
    spec = ChartSpec(title, t.text("chart.axis_month" if use_months else "chart.axis_day"), "PUE", x_ticks=ticks)
    return _figure(line_chart(spec, lines, markers=len(xs) <= 16),
                   t.text("chart.pue_caption_monthly" if use_months else "chart.pue_caption_daily", title=title))


def _energy_chart(sc: dict[str, Any], t: Translator) -> Figure:
    labels = list(sc["runs"])
    comps = [c for c in COMPONENT_NAMES if c != "it" and (c not in LIQUID_COMPONENTS or any(
        sc["runs"][p]["kpis"]["energy_by_component_mwh"].get(c, 0.0) > 0.0 for p in labels))]
    series = [(t.component(c), [sc["runs"][p]["kpis"]["energy_by_component_mwh"][c] for p in labels],
               COMPONENT_COLORS[c]) for c in comps]
    return _figure(bar_chart(ChartSpec(t.text("chart.energy_title"), t.text("chart.axis_policy"), "MWh"), labels,
                             series, stacked=True, value_digits=0),
                   t.text("chart.energy_caption"))


def _inlet_chart(sc: dict[str, Any], colors: dict[str, str], t: Translator) -> Figure:
    runs = sc["runs"]
    first = next(iter(runs.values()))["plots"]["inlet_histogram"]
    edges = first["edges_c"]
    used = [i for i in range(len(edges) - 1)
            if any(r["plots"]["inlet_histogram"]["hours"][i] > 0 for r in runs.values())]
    limit = next(iter(runs.values()))["kpis"]["inlet_limit_c"]
    top = max(limit, 27.0) + 0.5  # keep the limit marks in view
    lo = max(0, used[0] - 2) if used else 0
    hi = max(used[-1] + 3 if used else 0, next((i for i, e in enumerate(edges) if e >= top), len(edges) - 1))
    hi = min(hi, len(edges) - 1)
    xs = [0.5 * (edges[i] + edges[i + 1]) for i in range(lo, hi)]
    lines = [Series(label, xs, run["plots"]["inlet_histogram"]["hours"][lo:hi], colors[label])
             for label, run in runs.items()]
    marks = [(27.0, "27 °C")] + ([(limit, t.text("chart.limit_mark", limit=f"{limit:g}"))] if limit != 27.0 else [])
    svg = line_chart(ChartSpec(t.text("chart.inlet_title"), t.text("chart.inlet_x"), t.text("chart.hours")), lines,
                     vlines=marks)
    return _figure(svg, t.text("chart.inlet_caption", limit=f"{limit:g}"))


WEEK_SETPOINT_PANELS: dict[str, tuple[str, str]] = {
    "supply_air_temp_c": ("chart.week_sat", "°C"),
    "chw_supply_temp_c": ("chart.week_chw", "°C"),
    "condenser_water_temp_c": ("chart.week_cw", "°C"),
    "crah_fan_speed_frac": ("chart.week_fan", "unit.fraction"),
    "chiller_stage_up_plr": ("chart.week_stage_up", "unit.fraction"),
    "tower_cell_flow_min_frac": ("chart.week_tower_cell_flow", "unit.fraction"),
    "chw_dp_setpoint_frac": ("chart.week_dp", "unit.fraction"),
    "cw_flow_frac": ("chart.week_cw_flow", "unit.fraction"),
    "economizer_enable": ("chart.week_economizer", "unit.fraction"),
}
"""Peak-week panel of each setpoint: title key and unit (a catalogue key, or the unit itself), in panel order. A
setpoint of a newer block falls back to ``chart.week_setpoint`` with its catalogue name."""
WEEK_PLANT_PANELS: dict[str, tuple[str, str]] = {
    "chillers_running": ("chart.week_chillers", "unit.count"),
    "tower_cells_running": ("chart.week_tower_cells", "unit.count"),
    "chw_flow_frac": ("chart.week_chw_flow_plant", "unit.fraction"),
    "cw_flow_frac": ("chart.week_cw_flow_plant", "unit.fraction"),
    "tes_soc": ("chart.week_tes_soc", "unit.fraction"),
    "tes_discharge_kw": ("chart.week_tes_discharge", "kW"),
    "case_temp_max_c": ("chart.week_case_temp", "°C"),
    "fws_supply_c": ("chart.week_fws_supply", "°C"),
    "trim_kw": ("chart.week_trim", "kW"),
    "heat_reused_kw": ("chart.week_heat_reused", "kW"),
}
"""Peak-week panels of the plant's response to its levers (coolpilot.evaluation.whatif.PLANT_SERIES) and of a
storage tank, liquid cooling and a heat pump (coolpilot.evaluation.whatif.STORAGE_SERIES, LIQUID_SERIES,
HEAT_REUSE_SERIES, present only for a facility with that equipment; the heat demand is drawn in the reused-heat
panel)."""


def _week_panels(week: dict[str, Any], t: Translator) -> list[tuple[str, str, str]]:
    """(series key, title, unit) of every setpoint and plant series in a run's peak-week data, in panel order."""
    def unit(u: str) -> str:
        return t.text(u) if u.startswith("unit.") else u

    names = [key.removeprefix("setpoint_") for key in week if key.startswith("setpoint_")]
    known = [n for n in WEEK_SETPOINT_PANELS if n in names]
    panels = [(f"setpoint_{n}", t.text(WEEK_SETPOINT_PANELS[n][0]), unit(WEEK_SETPOINT_PANELS[n][1])) for n in known]
    panels += [(f"setpoint_{n}", t.text("chart.week_setpoint", name=t.setpoint(n)),
                SETPOINT_SPECS[n].unit if n in SETPOINT_SPECS else "") for n in names if n not in WEEK_SETPOINT_PANELS]
    panels += [(key, t.text(title), unit(u)) for key, (title, u) in WEEK_PLANT_PANELS.items() if key in week]
    return panels


def _week_charts(sc: dict[str, Any], colors: dict[str, str], t: Translator) -> dict[str, Any]:
    runs = sc["runs"]
    first = next(iter(runs.values()))["plots"]["week"]
    step_h = first["hours_per_point"]
    start = first["start_day"]
    n = len(first["inlet_temp_max_c"])
    xs = [start + i * step_h / 24.0 for i in range(n)]
    ticks = [(start + d, f"{(start + d) % 365:.0f}") for d in range(0, int(n * step_h / 24.0) + 1)]
    limit = next(iter(runs.values()))["kpis"]["inlet_limit_c"]
    inlet_marks = [HLine(27.0, "27 °C")] + ([HLine(limit, t.text("chart.limit_mark", limit=f"{limit:g}"))]
                                            if limit != 27.0 else [])
    liquid = next(iter(runs.values()))["kpis"].get("liquid")
    case_marks = [] if liquid is None else [HLine(liquid["case_limit_c"], t.text(
        "chart.limit_mark", limit=f"{liquid['case_limit_c']:g}"))]
    panels: list[tuple[str, str, str, list[HLine]]] = [
        ("inlet_temp_max_c", t.text("chart.week_inlet"), "°C", inlet_marks),
        *((key, title, unit, case_marks if key == "case_temp_max_c" else []) for key, title, unit in
          _week_panels(first, t)),
        ("facility_kw", t.text("chart.week_power"), "kW", []),
    ]
    figs = []
    for key, title, unit, hls in panels:
        lines = [Series(label, xs, run["plots"]["week"][key], colors[label]) for label, run in runs.items()]
        if key in ("inlet_temp_max_c", "setpoint_condenser_water_temp_c"):
            lines.append(Series(t.text("chart.wet_bulb"), xs, first["outdoor_wetbulb_c"], "#999999", dashed=True))
        if key == "heat_reused_kw":  # the network's demand follows the weather: the same for every policy
            lines.append(Series(t.text("chart.heat_demand"), xs, first["heat_demand_kw"], "#999999", dashed=True))
        figs.append(_figure(line_chart(ChartSpec(title, t.text("chart.axis_day"), unit, width=460, height=250,
                                                 x_ticks=ticks), lines, hls),
                            t.text("chart.week_caption", title=title, unit=unit)))
    days = n * step_h / 24.0
    return {"first_day": f"{start:.0f}", "last_day": f"{start + days:.0f}", "charts": figs}


def _climate_is_synthetic(settings: dict[str, Any]) -> bool:
    """Whether the scenario's climate is a synthetic typical year (the climate catalogue's ``synthetic`` flag)."""
    if "climate_synthetic" in settings:
        return bool(settings["climate_synthetic"])
    from coolpilot.envs.weather import BUNDLED_CLIMATES

    info = BUNDLED_CLIMATES.get(settings["climate"])
    return bool(getattr(info, "synthetic", False))


def _scenario(results: dict[str, Any], sc: dict[str, Any], colors: dict[str, str], t: Translator) -> dict[str, Any]:
    """One scenario's section: warnings, settings, KPI table, savings tables and charts."""
    seen = [p["label"] for p in results["policies"] if p["kind"] == "bundle"
            and Path(sc["settings"]["climate"]).name in (p.get("training_climates") or [])]
    legacy = results["legacy"]
    return {
        "scenario": sc,
        "flagged": [f["policy"] for f in results["flags"] if f["scenario"] == sc["name"]],
        "seen_in_training": seen,
        "synthetic_climate": _climate_is_synthetic(sc["settings"]),
        "settings": _settings_items(sc, t),
        "kpi_table": _kpi_table(sc, t),
        "currency": next(iter(sc["runs"].values()))["kpis"]["currency"],
        "legacy_reference": legacy if legacy and legacy != results["baseline"] else None,
        "charts": [_pue_chart(sc, colors, t), _energy_chart(sc, t), _inlet_chart(sc, colors, t)],
        "week": _week_charts(sc, colors, t),
        "history": _history_view(sc.get("history"), t),
    }


def _history_view(history: dict[str, Any] | None, t: Translator) -> dict[str, Any] | None:
    """A scenario's history in words: each setpoint's source, what was filled, the recorded run beside the meters."""
    if history is None:
        return None
    sources = [(t.setpoint(name), t.text(f"history.source.{src['kind']}", point=src.get("point", "")))
               for name, src in history["setpoint_sources"].items()]
    metered = history.get("metered")
    fit = None
    if metered is not None:
        p = metered["calibrated_parameters"]
        rows = []
        for name, q in metered["quantities"].items():
            f = q["fit"]
            verdict = f["g14_hourly_pass"]
            rows.append({"name": t.text(f"history.q.{name}"), "metered": t.num(q["metered_mwh"], 2),
                         "simulated": t.num(q["simulated_mwh"], 2),
                         "difference": f"{t.num(q['difference_mwh'], 2, sign=True)} MWh "
                                       f"({t.pct(q['difference_pct'], 2, sign=True)})",
                         "cv": t.pct(f["cv_rmse_hourly_pct"], 2), "nmbe": t.pct(f["nmbe_hourly_pct"], 2, sign=True),
                         "g14": "—" if verdict is None else t.text("history.pass" if verdict else "history.fail"),
                         "ok": verdict is not False, "coverage": t.pct(100.0 * q["coverage"], 1)})
        fit = {"p": p or 0, "p_source": t.text("history.p_calibrated" if p else "history.p_draft"), "rows": rows}
    return {"files": ", ".join(Path(f).name for f in history["files"]), "recorded_ran": history["recorded_ran"],
            "sources": sources, "notes": history["notes"], "fit": fit}


def _cards(results: dict[str, Any], t: Translator) -> list[dict[str, Any]]:
    """Each policy's card: its role, and for a bundle the facts of its card.json."""
    facilities = {sc["settings"]["facility"] for sc in results["scenarios"]}
    cards = []
    for p in results["policies"]:
        role = t.text("card.role_baseline") if p["label"] == results["baseline"] else (
            t.text("card.role_proposed") if p["label"] == results["proposed"] else "")
        card: dict[str, Any] = {"label": p["label"], "role": role,
                                "text": None if p["kind"] == "bundle" else t.text(f"card.{p['kind']}")}
        if p["kind"] == "bundle":
            ev = p["evaluation"]
            card["facility"] = p["facility"]
            card["other_facility"] = p["facility"] not in facilities
            card["facts"] = [
                (t.text("card.bundle"), p["spec"]), (t.text("card.sha256"), p["sha256"]),
                (t.text("card.facility"), p["facility"]), (t.text("card.environment"), p["env_id"]),
                (t.text("card.algorithm"),
                 t.text("card.algorithm_value", algo=p["algo"], action=t.action(str(p["action"])))),
                (t.text("card.steps"), t.num(p["timesteps"], 0) if p["timesteps"] is not None else "—"),
                (t.text("card.seed"), p["seed"]),
                (t.text("card.climates"), ", ".join(p["training_climates"] or [])),
                (t.text("card.created"), p["created_at"]), (t.text("card.version"), p["coolpilot_version"]),
                (t.text("card.parity"), p["parity_max_abs_diff"]),
                (t.text("card.setpoints"), t.text("card.setpoints_value", version=p.get("contract_version", 1),
                                                  names=", ".join(t.setpoint(n) for n in p.get("setpoints", [])))),
                (t.text("card.heldout"), t.text(
                    "card.heldout_value", climates=", ".join(ev.get("climates") or []),
                    facility=t.num(ev.get("facility_saving_pct"), 2), cooling=t.num(ev.get("cooling_saving_pct"), 1),
                    baseline=ev.get("baseline"), dh=t.num(ev.get("degree_hours_above_27c"), 1))),
            ]
        cards.append(card)
    return cards


@cache
def _environment(lang: str) -> Environment:
    """The template environment of one language: templates from the package, autoescape on, undefined names an
    error; ``t`` (the catalogue), ``num``, ``pct`` and ``money`` speak that language."""
    package = __name__.rpartition(".")[0]  # coolpilot.evaluation, however it is installed
    env = Environment(loader=PackageLoader(package, "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    t = translator(lang)
    env.globals["t"] = t.markup
    env.globals["lang"] = lang
    env.filters["num"] = t.num
    env.filters["pct"] = t.pct
    env.filters["money"] = t.money
    return env


def render_report(results: dict[str, Any], lang: str = DEFAULT_LANGUAGE) -> str:
    """The report page (HTML, self-contained) from a results mapping, in ``lang`` (``en`` or ``zh-CN``)."""
    t = translator(lang)
    colors = policy_colors(results)
    liquid = any("liquid" in run["kpis"] for sc in results["scenarios"] for run in sc["runs"].values())
    methodology = {
        "deadbands": ", ".join(f"{t.setpoint(k)} {v:g}" for k, v in DEADBANDS.items()),
        "cooling_components": " + ".join(t.component(c) for c in COOLING_COMPONENTS
                                         if liquid or c not in LIQUID_COMPONENTS),
        "default_price_per_mwh": f"{DEFAULT_PRICE_PER_MWH:g}",
        "default_grid_factor": f"{DEFAULT_GRID_FACTOR_T_PER_MWH}",
        **{block: any(block in run["kpis"] for sc in results["scenarios"] for run in sc["runs"].values())
           for block in OPTIONAL_KPI_ROWS},
        "trim_threshold_kw": f"{TRIM_THRESHOLD_KW:g}",
    }
    hottest = max(run["kpis"]["inlet_temp_max_c"] for sc in results["scenarios"] for run in sc["runs"].values())
    return _environment(lang).get_template("report.html.j2").render(
        r=results,
        timing=results.get("timing", {}),
        hottest_inlet_c=hottest,
        summary=_summary(results, colors, t),
        scenarios=[_scenario(results, sc, colors, t) for sc in results["scenarios"]],
        methodology=methodology,
        cards=_cards(results, t),
    )


# --- files ---------------------------------------------------------------------------------------


def _flat_kpis(k: dict[str, Any]) -> dict[str, Any]:
    row = {key: v for key, v in k.items() if not isinstance(v, dict | list) and key not in IDENTITY_KEYS}
    row.update({f"energy_{c}_mwh": v for c, v in k["energy_by_component_mwh"].items()})
    row.update({f"setpoint_changes_{c}": v for c, v in k["setpoint_changes"].items()})
    row.update({f"{block}_{name}": v for block in OPTIONAL_KPI_ROWS for name, v in (k.get(block) or {}).items()})
    return row


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    names: list[str] = []
    for r in rows:
        names += [n for n in r if n not in names]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(results: dict[str, Any], out_dir: str | Path, lang: str = DEFAULT_LANGUAGE) -> dict[str, Path]:
    """Write ``report.html`` (in ``lang``), ``results.json``, ``kpis.csv``, ``monthly.csv`` and ``savings.csv`` to
    ``out_dir``."""
    check_language(lang)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean: dict[str, Any] = json_safe(results)
    paths = {name: out / name for name in ("report.html", "results.json", "kpis.csv", "monthly.csv", "savings.csv")}
    paths["results.json"].write_text(json.dumps(clean, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    kpi_rows, monthly_rows, savings_rows = [], [], []
    for sc in clean["scenarios"]:
        for label, run in sc["runs"].items():
            kpi_rows.append({"scenario": sc["name"], "policy": label, **_flat_kpis(run["kpis"])})
            monthly_rows += [{"scenario": sc["name"], "policy": label, "month": m["label"],
                              **{k: v for k, v in m.items() if k != "label"}} for m in run["kpis"]["monthly"]]
        for s in sc["savings_vs_baseline"].values():
            savings_rows.append({"scenario": sc["name"], **s})
    _write_csv(paths["kpis.csv"], kpi_rows)
    _write_csv(paths["monthly.csv"], monthly_rows)
    _write_csv(paths["savings.csv"], savings_rows)
    paths["report.html"].write_text(render_report(clean, lang), encoding="utf-8")
    return paths


__all__ = ["bar_chart", "line_chart", "nice_ticks", "policy_colors", "render_report", "write_outputs"]
