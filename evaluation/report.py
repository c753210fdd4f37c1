"""The what-if report: one self-contained HTML page, plus ``results.json`` and CSV files.

The page works offline: inline CSS, plots as inline SVG drawn here (no script, no CDN,
no external file). It reads, top to bottom, as a manager and an operator would: thermal
risk first (any policy above its inlet limit is flagged in red, and its savings are
marked as not valid), then the executive summary (savings of the proposed policy against
the site's current control in MWh, %, t CO2e, money and water; PUE before and after),
then one section per scenario (settings, every KPI of every policy with units, savings,
plots: PUE per month, energy breakdown, hottest-inlet distribution, the peak week's
setpoints and temperatures), then assumptions and methodology, and the policies' cards.

Everything is rendered from the results mapping of :func:`evaluation.whatif.run_whatif`
(the content of ``results.json``), so a report can be re-rendered from that file.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.kpis import COMPONENTS, COOLING_COMPONENTS, DEADBANDS
from evaluation.scenarios import DEFAULT_GRID_FACTOR_T_PER_MWH, DEFAULT_PRICE_PER_MWH

KIND_COLORS = {"legacy": "#7f7f7f", "rule-based": "#1f77b4", "oracle": "#222222"}
BUNDLE_COLORS = ("#e8710a", "#2ca02c", "#9467bd", "#d62728", "#17becf", "#8c564b")
COMPONENT_COLORS = {
    "crah_fans": "#4e79a7", "chillers": "#e15759", "tower_fans": "#76b7b2", "chw_pumps": "#59a14f",
    "cw_pumps": "#edc948", "distribution_losses": "#b07aa1", "lighting": "#ff9da7",
}
COMPONENT_LABELS = {
    "it": "IT", "crah_fans": "CRAH fans", "chillers": "chillers", "tower_fans": "tower fans",
    "chw_pumps": "chilled-water pumps", "cw_pumps": "condenser pumps", "distribution_losses": "UPS/distribution losses",
    "lighting": "lighting",
}


# --- formatting ----------------------------------------------------------------------------------


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float | None, digits: int = 1, sign: bool = False) -> str:
    """A number with thousands separators; '—' for missing or non-finite values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


def _money(value: float | None, currency: str, sign: bool = False) -> str:
    return "—" if value is None else f"{_num(value, 0, sign)} {_esc(currency)}"


def sanitize(value: Any) -> Any:
    """The mapping with non-finite floats as None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    return value


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
        w = 26 + 6.2 * len(label)
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
                           f'{_esc(label)} {_num(v, value_digits)}</title></rect>')
                acc += v
            out.append(f'<text x="{x0 + usable / 2:.1f}" y="{f.y(acc) - 3:.1f}" class="bv">{_num(acc, value_digits)}'
                       '</text>')
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
                           f'{_num(bar, value_digits)}</title></rect>')
                text_y = (top - 3) if bar >= 0 else (top + height + 10)
                out.append(f'<text x="{x0 + (k + 0.5) * w:.1f}" y="{text_y:.1f}" class="bv">{_num(bar, value_digits)}'
                           '</text>')
        short = cat if len(cat) <= 18 else cat[:17] + "…"
        out.append(f'<text x="{f.left + (i + 0.5) * slot:.1f}" y="{f.height - f.bottom + 15}" class="xt">'
                   f'{_esc(short)}</text>')
    base = f.height - f.bottom
    out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{zero:.1f}" y2="{zero:.1f}" class="axis"/>')
    out += _legend([(label, color, False) for label, _, color in series], f.left, base + 44, f.width)
    out.append("</svg>")
    return "\n".join(out)


def _figure(svg: str, caption: str) -> str:
    return f'<figure>{svg}<figcaption>{_esc(caption)}</figcaption></figure>'


# --- sections ------------------------------------------------------------------------------------


def _kpis(results: dict[str, Any], scenario: dict[str, Any], label: str) -> dict[str, Any]:
    kpis: dict[str, Any] = scenario["runs"][label]["kpis"]
    return kpis


def _thermal_section(results: dict[str, Any]) -> str:
    flags = results["flags"]
    if not flags:
        hottest = max(run["kpis"]["inlet_temp_max_c"] for sc in results["scenarios"] for run in sc["runs"].values())
        return ('<section class="ok" id="thermal-risk"><h2>Thermal risk</h2><p>No policy took any server inlet above '
                f'its scenario\'s limit in any scenario. Hottest inlet anywhere: <b>{_num(hottest, 1)} °C</b>.</p>'
                '</section>')
    rows = "".join(
        f'<tr class="bad"><td>{_esc(f["scenario"])}</td><td>{_esc(f["policy"])}</td>'
        f'<td>{_num(f["inlet_limit_c"], 1)}</td><td>{_num(f["inlet_temp_max_c"], 2)}</td>'
        f'<td>{_num(f["degree_hours_above_limit"], 1)}</td><td>{_num(f["hours_above_limit"], 1)}</td></tr>'
        for f in flags)
    return ('<section class="alert" id="thermal-risk"><h2>⚠ Thermal risk: inlet limit exceeded</h2>'
            f'<p><b>{len(flags)}</b> run(s) took server inlets above the scenario\'s limit. Energy saved by '
            'overheating is not a saving: these runs are marked <span class="badge bad">OVERHEAT</span> wherever they '
            'appear, and their savings are not valid.</p>'
            '<table><thead><tr><th>scenario</th><th>policy</th><th>inlet limit (°C)</th><th>hottest inlet (°C)</th>'
            '<th>degree-hours above limit (K·h)</th><th>hours above limit (h)</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></section>')


def _period_text(settings: dict[str, Any]) -> str:
    span = f"{settings['days']:g} days from day {settings['start_day']:g}"
    return span if settings["period"].startswith("day ") else f"{settings['period']} ({span})"


def _summary_section(results: dict[str, Any], colors: dict[str, str]) -> str:
    base, prop, oracle = results["baseline"], results["proposed"], results["oracle"]
    out = ['<section id="summary"><h2>Executive summary</h2>']
    if prop is None:
        out.append(f"<p>Only the baseline policy <b>{_esc(base)}</b> was run: there is nothing to compare.</p>"
                   "</section>")
        return "".join(out)
    rows, pcts, valid_pcts = [], [], []
    for sc in results["scenarios"]:
        s = sc["savings_vs_baseline"][prop]
        kb, kp = _kpis(results, sc, base), _kpis(results, sc, prop)
        currency = kp["currency"]
        pcts.append(s["facility_energy_pct"])
        if s["thermal_ok"]:
            valid_pcts.append(s["facility_energy_pct"])
        status = ('<span class="badge ok">OK</span>' if s["thermal_ok"] else
                  '<span class="badge bad">OVERHEAT — saving not valid</span>')
        share = "—" if s["share_of_oracle_saving_pct"] is None else f"{_num(s['share_of_oracle_saving_pct'], 0)} %"
        rows.append(
            f'<tr class="{"" if s["thermal_ok"] else "bad"}"><td><a href="#sc-{_esc(sc["name"])}">{_esc(sc["name"])}'
            f'</a></td><td>{_esc(_period_text(sc["settings"]))}</td>'
            f'<td class="n">{_num(s["facility_energy_mwh"], 1)}</td><td class="n">{_num(s["facility_energy_pct"], 2)} %'
            f'</td><td class="n">{_num(s["carbon_location_t_co2e"], 1)}</td>'
            f'<td class="n">{_num(s["carbon_after_green_t_co2e"], 1)}</td>'
            f'<td class="n">{_money(s["cost"], currency)}</td><td class="n">{_num(s["water_m3"], 0)}</td>'
            f'<td class="n">{_num(kb["pue"], 3)} → {_num(kp["pue"], 3)}</td>'
            f'<td class="n">{_num(kb["inlet_temp_max_c"], 1)} / {_num(kp["inlet_temp_max_c"], 1)}</td>'
            f'<td class="n">{_num(kp["degree_hours_above_limit"], 1)}</td><td class="n">{share}</td>'
            f'<td>{status}</td></tr>')
    finite = [p for p in valid_pcts if p is not None]
    n = len(results["scenarios"])
    if finite:
        lo, hi = min(finite), max(finite)
        span = f"{_num(lo, 2)} %" if abs(hi - lo) < 0.005 else f"{_num(lo, 2)} to {_num(hi, 2)} %"
        headline = (f"<p class='headline'>Against the site's current control (<b>{_esc(base)}</b>), "
                    f"<b>{_esc(prop)}</b> changes facility energy by <b>{span}</b> (positive = saved) in the "
                    f"{len(finite)} of {n} scenario(s) where it kept every inlet under the limit.</p>")
    else:
        headline = (f"<p class='headline bad'><b>{_esc(prop)}</b> exceeded the inlet limit in every scenario: no "
                    "saving of it is valid.</p>")
    out.append(headline)
    out.append("<p>Savings are over each scenario's simulated period (a year unless the period says otherwise); "
               "positive numbers are saved, negative numbers cost more. Carbon avoided is location-based (grid "
               "factor) and after green power (market-based).</p>")
    out.append('<div class="scroll"><table><thead><tr><th>scenario</th><th>period</th><th>energy saved (MWh)</th>'
               '<th>saved (%)</th><th>CO2e avoided (t)</th><th>CO2e avoided after green power (t)</th>'
               '<th>cost saved</th><th>water saved (m³)</th><th>PUE before → after</th>'
               f'<th>hottest inlet (°C) {_esc(base)} / {_esc(prop)}</th><th>K·h above limit</th>'
               '<th>share of oracle\'s saving</th><th>thermal</th></tr></thead>'
               f'<tbody>{"".join(rows)}</tbody></table></div>')
    others = [p["label"] for p in results["policies"] if p["label"] != base]
    cats = [sc["name"] for sc in results["scenarios"]]
    series = [(label, [sc["savings_vs_baseline"][label]["facility_energy_pct"] for sc in results["scenarios"]],
               colors[label]) for label in others]
    out.append(_figure(bar_chart(ChartSpec(f"Facility energy saved vs {base} (%)", "scenario", "% of facility energy",
                                           width=max(560, 110 * len(cats) * max(1, len(others)) // 2)),
                                 cats, series, value_digits=2),
                       f"Savings vs oracle: each policy's facility-energy saving against {base}, per scenario"
                       + (f"; {oracle} (perfect knowledge) marks what is achievable." if oracle else ".")))
    out.append("</section>")
    return "".join(out)


def _settings_list(sc: dict[str, Any]) -> str:
    s = sc["settings"]
    load, lim, out, w, t, c = s["load"], s["limits"], s["outages"], s["weather"], s["tariff"], s["carbon"]
    items = [
        ("facility", s["facility"]),
        ("climate", s["climate"]),
        ("period", _period_text(s)),
        ("IT load", f"level × {_num(load['level'], 2)}, growth {_num(100 * load['growth_per_year'], 0)} %/yr"),
    ]
    ranges = [f"{name} {r['low']:g}–{r['high']:g}" for name, r in lim.items() if isinstance(r, dict)]
    limit_text = f"inlet ≤ {_num(lim['inlet_limit_c'], 1)} °C" + (f"; {', '.join(ranges)}" if ranges else "")
    items.append(("limits", limit_text))
    outs = []
    if out["chillers"]:
        outs.append(f"{out['chillers']} chiller(s)")
    if out["tower_cells"]:
        outs.append(f"{out['tower_cells']} tower cell(s)")
    outs += [f"{100 * c_['share_out']:.0f} % of CRAH capacity in {c_['zone']}" for c_ in out["crahs"]]
    items.append(("outages", ", ".join(outs) or "none"))
    shifts = []
    if w["offset_k"]:
        shifts.append(f"{w['offset_k']:+g} K all year")
    if w["heat_wave"]:
        hw = w["heat_wave"]
        shifts.append(f"heat wave +{hw['peak_k']:g} K from day {hw['start_day']:g} for {hw['days']:g} d")
    humidity = w["humidity"].replace("_", " ")
    items.append(("weather", f"{', '.join(shifts)} ({humidity})" if shifts else "as recorded"))
    tou = "; ".join(f"{x['name']} {x['start_hour']:g}–{x['end_hour']:g} h {x['price_per_mwh']:g}"
                    + (" weekdays" if x["weekdays_only"] else "") for x in t["time_of_use"])
    items.append(("tariff", f"{t['price_per_mwh']:g} {t['currency']}/MWh" + (f", time of use: {tou}" if tou else "")
                  + (f"; water {t['water_price_per_m3']:g} {t['currency']}/m³" if t["water_price_per_m3"] is not None
                     else "; water not priced")))
    factor = "hourly profile " + Path(c["hourly_csv"]).name if c["hourly_csv"] else f"{c['grid_t_co2_per_mwh']:g} t/MWh"
    items.append(("carbon", f"grid {factor}, green power {100 * c['green_power_share']:.0f} %"))
    return "<dl>" + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in items) + "</dl>"


KPI_ROWS: tuple[tuple[str, str, str, int], ...] = (
    ("pue", "PUE", "1", 3),
    ("facility_energy_mwh", "facility energy", "MWh", 1),
    ("it_energy_mwh", "IT energy", "MWh", 1),
    ("cooling_energy_mwh", "cooling energy (plant)", "MWh", 1),
    ("non_it_energy_mwh", "non-IT energy (facility − IT)", "MWh", 1),
    *((f"energy_by_component_mwh.{c}", f"  {COMPONENT_LABELS[c]}", "MWh", 1) for c in COMPONENTS if c != "it"),
    ("peak_facility_power_kw", "peak facility power", "kW", 0),
    ("water_m3", "water", "m³", 0),
    ("wue_l_per_kwh", "WUE", "L/kWh", 3),
    ("carbon_location_t_co2e", "carbon, location-based", "t CO2e", 1),
    ("carbon_after_green_t_co2e", "carbon after green power", "t CO2e", 1),
    ("total_cost", "cost (energy + water)", "currency", 0),
    ("inlet_temp_max_c", "hottest inlet", "°C", 2),
    ("degree_hours_above_27c", "degree-hours above 27 °C", "K·h", 1),
    ("hours_above_27c", "hours above 27 °C", "h", 1),
    ("degree_hours_above_limit", "degree-hours above the limit", "K·h", 1),
    ("free_cooling_hours", "free-cooling hours (economizer on)", "h", 0),
    ("full_free_cooling_hours", "full free-cooling hours (chillers off)", "h", 0),
    ("setpoint_changes_total", "setpoint changes", "1", 0),
    ("setpoint_changes_per_day", "setpoint changes per day", "1/d", 1),
)


def _get(k: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        k = k[part]
    return k


def _kpi_table(results: dict[str, Any], sc: dict[str, Any]) -> str:
    labels = list(sc["runs"])
    head = "".join(f"<th>{_esc(label)}</th>" for label in labels)
    rows = []
    for key, name, unit, digits in KPI_ROWS:
        cells = []
        for label in labels:
            k = sc["runs"][label]["kpis"]
            v = _get(k, key)
            bad = key == "degree_hours_above_limit" and v and v > 0
            shown = _money(v, k["currency"]) if unit == "currency" else _num(v, digits)
            cells.append(f'<td class="n{" badcell" if bad else ""}">{shown}</td>')
        unit_shown = sc["runs"][labels[0]]["kpis"]["currency"] if unit == "currency" else unit
        rows.append(f"<tr><th>{_esc(name)}</th><td>{_esc(unit_shown)}</td>{''.join(cells)}</tr>")
    ok, bad = '<span class="badge ok">OK</span>', '<span class="badge bad">OVERHEAT</span>'
    status = "".join(f"<td>{ok if sc['runs'][label]['kpis']['thermal_ok'] else bad}</td>" for label in labels)
    rows.append(f"<tr><th>thermal status (inlet ≤ limit)</th><td></td>{status}</tr>")
    return (f'<div class="scroll"><table class="kpi"><thead><tr><th>KPI</th><th>unit</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _savings_table(sc: dict[str, Any], key: str, reference: str) -> str:
    table = sc[key]
    if not table:
        return ""
    currency = next(iter(sc["runs"].values()))["kpis"]["currency"]
    rows = []
    for label, s in table.items():
        share = "—" if s["share_of_oracle_saving_pct"] is None else f"{_num(s['share_of_oracle_saving_pct'], 0)} %"
        flag = "" if s["thermal_ok"] else ' <span class="badge bad">OVERHEAT — not valid</span>'
        rows.append(
            f'<tr class="{"" if s["thermal_ok"] else "bad"}"><td>{_esc(label)}{flag}</td>'
            f'<td class="n">{_num(s["facility_energy_mwh"], 1)}</td><td class="n">{_num(s["facility_energy_pct"], 2)}'
            f' %</td><td class="n">{_num(s["cooling_energy_mwh"], 1)}</td>'
            f'<td class="n">{_num(s["cooling_energy_pct"], 1)} %</td>'
            f'<td class="n">{_num(s["carbon_location_t_co2e"], 1)}</td>'
            f'<td class="n">{_num(s["carbon_after_green_t_co2e"], 1)}</td><td class="n">{_money(s["cost"], currency)}'
            f'</td><td class="n">{_num(s["water_m3"], 0)}</td><td class="n">{_num(s["pue_before"], 3)} → '
            f'{_num(s["pue_after"], 3)}</td>'
            + (f'<td class="n">{share}</td>' if key == "savings_vs_baseline" else "") + "</tr>")
    share_head = "<th>share of oracle's saving</th>" if key == "savings_vs_baseline" else ""
    return (f'<h4>Savings against {_esc(reference)}</h4><div class="scroll"><table><thead><tr><th>policy</th>'
            '<th>facility energy (MWh)</th><th>(%)</th><th>cooling energy (MWh)</th><th>(%)</th>'
            '<th>CO2e location (t)</th><th>CO2e after green power (t)</th><th>cost</th><th>water (m³)</th>'
            f'<th>PUE</th>{share_head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _pue_chart(sc: dict[str, Any], colors: dict[str, str]) -> str:
    first = next(iter(sc["runs"].values()))["kpis"]
    use_months = len(first["monthly"]) >= 2
    key = "monthly" if use_months else "daily"
    slices = first[key]
    xs = list(range(len(slices)))
    step = max(1, len(slices) // 12)
    ticks = [(float(i), s["label"] if use_months else s["label"].replace("day ", "")) for i, s in enumerate(slices)
             if i % step == 0]
    lines = [Series(label, xs, [s["pue"] for s in run["kpis"][key]], colors[label])
             for label, run in sc["runs"].items()]
    title = f"{'Monthly' if use_months else 'Daily'} PUE per policy"
    spec = ChartSpec(title, "month" if use_months else "day of year", "PUE", x_ticks=ticks)
    return _figure(line_chart(spec, lines, markers=len(xs) <= 16),
                   f"{title}: facility energy over IT energy, {'per calendar month' if use_months else 'per day'} of "
                   "the period.")


def _energy_chart(sc: dict[str, Any]) -> str:
    labels = list(sc["runs"])
    comps = [c for c in COMPONENTS if c != "it"]
    series = [(COMPONENT_LABELS[c], [sc["runs"][p]["kpis"]["energy_by_component_mwh"][c] for p in labels],
               COMPONENT_COLORS[c]) for c in comps]
    return _figure(bar_chart(ChartSpec("Non-IT energy by component (MWh)", "policy", "MWh"), labels, series,
                             stacked=True, value_digits=0),
                   "Energy breakdown: facility energy above IT (cooling plant, UPS/distribution losses, lighting), "
                   "by component. IT energy is in the KPI table.")


def _inlet_chart(sc: dict[str, Any], colors: dict[str, str]) -> str:
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
    marks = [(27.0, "27 °C")] + ([(limit, f"limit {limit:g} °C")] if limit != 27.0 else [])
    svg = line_chart(ChartSpec("Hottest server inlet: hours per 0.5 K", "hottest inlet (°C)", "hours"), lines,
                     vlines=marks)
    return _figure(svg, "Inlet-temperature distribution: hours at each hottest-inlet temperature (ASHRAE "
                   f"recommended limit 27 °C; this scenario's limit {limit:g} °C).")


def _week_charts(sc: dict[str, Any], colors: dict[str, str]) -> str:
    runs = sc["runs"]
    first = next(iter(runs.values()))["plots"]["week"]
    step_h = first["hours_per_point"]
    start = first["start_day"]
    n = len(first["inlet_temp_max_c"])
    xs = [start + i * step_h / 24.0 for i in range(n)]
    ticks = [(start + d, f"{(start + d) % 365:.0f}") for d in range(0, int(n * step_h / 24.0) + 1)]
    limit = next(iter(runs.values()))["kpis"]["inlet_limit_c"]
    panels = [
        ("inlet_temp_max_c", "Hottest server inlet", "°C", [HLine(27.0, "27 °C")]
         + ([HLine(limit, f"limit {limit:g} °C")] if limit != 27.0 else [])),
        ("setpoint_supply_air_temp_c", "Supply air setpoint", "°C", []),
        ("setpoint_chw_supply_temp_c", "Chilled-water setpoint", "°C", []),
        ("setpoint_condenser_water_temp_c", "Condenser water setpoint", "°C", []),
        ("setpoint_crah_fan_speed_frac", "CRAH fan speed setpoint", "fraction", []),
        ("facility_kw", "Facility power", "kW", []),
    ]
    figs = []
    for key, title, unit, hls in panels:
        lines = [Series(label, xs, run["plots"]["week"][key], colors[label]) for label, run in runs.items()]
        if key in ("inlet_temp_max_c", "setpoint_condenser_water_temp_c"):
            lines.append(Series("outdoor wet bulb", xs, first["outdoor_wetbulb_c"], "#999999", dashed=True))
        figs.append(_figure(line_chart(ChartSpec(title, "day of year", unit, width=460, height=250, x_ticks=ticks),
                                       lines, hls), f"{title} ({unit}), hourly means"))
    days = n * step_h / 24.0
    return (f'<h4>Peak week: setpoints and temperatures (days {start:.0f}–{start + days:.0f})</h4>'
            '<p class="note">The 7 days of the period with the highest mean outdoor wet bulb (the whole period when '
            'shorter): where cooling is hardest and policies differ most.</p>'
            f'<div class="grid">{"".join(figs)}</div>')


def _scenario_section(results: dict[str, Any], sc: dict[str, Any], colors: dict[str, str]) -> str:
    base = results["baseline"]
    flagged = [f["policy"] for f in results["flags"] if f["scenario"] == sc["name"]]
    warn = (f'<p class="alert-inline">⚠ Inlet limit exceeded by: {_esc(", ".join(flagged))}.</p>' if flagged else "")
    seen = [p["label"] for p in results["policies"] if p["kind"] == "bundle"
            and Path(sc["settings"]["climate"]).name in (p.get("training_climates") or [])]
    if seen:
        warn += (f'<p class="note">⚑ {_esc(", ".join(seen))} saw this climate in training: read its result here as '
                 "in-sample; climates it never saw are the fairer test.</p>")
    legacy_table = (_savings_table(sc, "savings_vs_legacy", results["legacy"])
                    if results["legacy"] and results["legacy"] != base else "")
    return (f'<section class="scenario" id="sc-{_esc(sc["name"])}"><h2>Scenario: {_esc(sc["name"])}</h2>'
            + (f"<p>{_esc(sc['description'])}</p>" if sc["description"] else "") + warn + _settings_list(sc)
            + "<h4>KPIs</h4>" + _kpi_table(results, sc)
            + _savings_table(sc, "savings_vs_baseline", f"{base} (the site's current control)") + legacy_table
            + '<div class="grid">' + _pue_chart(sc, colors) + _energy_chart(sc) + _inlet_chart(sc, colors) + "</div>"
            + _week_charts(sc, colors) + "</section>")


def _methodology_section(results: dict[str, Any]) -> str:
    deadbands = ", ".join(f"{k} {v:g}" for k, v in DEADBANDS.items())
    cooling = " + ".join(COMPONENT_LABELS[c] for c in COOLING_COMPONENTS)
    return f"""<section id="methodology"><h2>Assumptions and methodology</h2>
<h4>The model</h4>
<p>Each run simulates the facility minute by minute in 5-minute control steps (the scenario's step) on coolpilot's
reduced-order plant model: IT load per zone with server fans that draw more power above a 24 °C inlet; CRAH fans
on EnergyPlus part-load curves, recirculation and zone thermal mass; a chilled-water loop with thermal mass; an
integrated waterside economizer; staged chillers on DOE-2 EIR curves; cooling towers on the YorkCalc approach model
with evaporation, drift and blowdown; pumps; UPS/distribution losses and lighting. Energy balances by construction.
Weather is the climate's typical meteorological year (NREL TMY3, or the EPW file given), interpolated to the
step; the IT load follows each zone's profile with seeded noise, identical for every policy of a scenario. Every
policy sees only the points a BMS reports; the oracle alone sees the plant and the future (perfect knowledge) and
searches setpoint plans on the same model: it marks what is achievable, and its saving is a lower bound of the
best possible.</p>
<h4>Scenario levers</h4>
<ul>
<li><b>IT load</b>: the level multiplies every zone's utilization (a zone cannot exceed its design IT power); growth
adds a trend over the period.</li>
<li><b>Limits</b>: the inlet limit (27 °C, ASHRAE TC 9.9 recommended; up to 32 °C, class A1 allowable) sets the
thermal-risk KPIs; the rule-based controller keeps its margins under it and the oracle plans to it; a learned
bundle keeps the limit it was trained for. Setpoint ranges are clamped by the plant for every policy.</li>
<li><b>Outages</b> last the whole period: chillers out of service (the rest stage as usual), tower cells isolated,
a share of a zone's CRAH capacity lost (its airflow and fan power).</li>
<li><b>Weather</b>: an offset and a heat wave raise the dry bulb (ramped in and out); relative humidity or dew point
is held, and wet bulb recomputed (Magnus dew point, Stull 2011 wet bulb).</li>
<li><b>Tariff</b>: energy price per MWh, flat or in time-of-use windows (local standard time; day 0 is a Monday);
default {DEFAULT_PRICE_PER_MWH:g} per MWh (≈ US average industrial price 2023, EIA). Demand charges are not
modelled.</li>
<li><b>Carbon</b>: grid factor per MWh, constant or hourly; default {DEFAULT_GRID_FACTOR_T_PER_MWH} t CO2/MWh
(China's 2022 national grid average, Ministry of Ecology and Environment). Green power reduces the market-based
figure by its share.</li>
</ul>
<h4>KPI definitions</h4>
<ul>
<li><b>PUE</b> = facility energy / IT energy (The Green Grid), over the period and per calendar month.</li>
<li><b>Cooling energy</b> = {cooling}; <b>non-IT energy</b> = facility − IT. Server fans count as IT, so warmer inlets
cannot buy a better PUE for free.</li>
<li><b>WUE</b> = site water (evaporation + drift + blowdown, L) / IT energy (kWh) (The Green Grid).</li>
<li><b>Carbon</b> location-based = Σ energy × hourly grid factor (GHG Protocol Scope 2); after green power = × (1 −
share).</li>
<li><b>Cost</b> = Σ energy × hourly price, plus water × water price when given.</li>
<li><b>Thermal risk</b>: degree-hours = Σ over steps and zones of the inlet's excess over the limit × hours; hours with
any inlet above; hottest inlet. Any run above its limit is flagged and its saving is not valid.</li>
<li><b>Free cooling</b>: hours with the economizer carrying load; full: and no chiller running.</li>
<li><b>Setpoint changes</b> (actuator wear): steps where an applied setpoint moves by more than its deadband
({_esc(deadbands)}).</li>
<li><b>Share of the oracle's saving</b> = (E<sub>baseline</sub> − E<sub>policy</sub>) / (E<sub>baseline</sub> −
E<sub>oracle</sub>) of facility energy.</li>
</ul>
<h4>Known limits</h4>
<p>Humidity and latent loads are not modelled; chillers are identical and share load equally; chiller curves are
clamped to their fitted ranges (no credit for unvalidated efficiency); tower evaporation uses a loss factor (≈1.7 L
per kWh rejected), so WUE is on the high side in cold climates; outages last the whole period; a typical year is
not a forecast of any particular year.</p>
</section>"""


def _cards_section(results: dict[str, Any]) -> str:
    text = {
        "legacy": "Fixed setpoints as many older sites run them: supply air 18 °C, CRAH fans 100 %, chilled water "
                  "7 °C, condenser water 29.4 °C.",
        "rule-based": "Good industry practice (ASHRAE Guideline 36-style trim and respond): fans on demand, supply "
                      "air reset to keep the hottest inlet 2 K under the limit, chilled water as warm as the coils "
                      "allow, condenser water on wet bulb, economizer whenever it helps.",
        "oracle": "Perfect-knowledge receding-horizon search on the simulator itself (true plant state, future weather "
                  "and load): the best achievable found, not a deployable policy.",
    }
    out = ['<section id="cards"><h2>Policies</h2>']
    for p in results["policies"]:
        role = " (baseline: the site's current control)" if p["label"] == results["baseline"] else (
            " (proposed)" if p["label"] == results["proposed"] else "")
        out.append(f'<div class="card"><h3>{_esc(p["label"])}{_esc(role)}</h3>')
        if p["kind"] != "bundle":
            out.append(f"<p>{_esc(text[p['kind']])}</p></div>")
            continue
        ev = p["evaluation"]
        facts = [
            ("bundle", p["spec"]), ("sha256 of policy.onnx", p["sha256"]), ("trained for facility", p["facility"]),
            ("environment", p["env_id"]), ("algorithm", f"{p['algo']} ({p['action']} action)"),
            ("training steps", _num(p["timesteps"], 0) if p["timesteps"] is not None else "—"),
            ("seed", p["seed"]), ("training climates", ", ".join(p["training_climates"] or [])),
            ("created", p["created_at"]), ("coolpilot version", p["coolpilot_version"]),
            ("export parity (max |SB3 − ONNX|)", p["parity_max_abs_diff"]),
            ("held-out evaluation at export",
             f"{', '.join(ev.get('climates') or [])}: facility saving {_num(ev.get('facility_saving_pct'), 2)} %, "
             f"cooling saving {_num(ev.get('cooling_saving_pct'), 1)} % vs {ev.get('baseline')}, "
             f"{_num(ev.get('degree_hours_above_27c'), 1)} K·h above 27 °C"),
        ]
        out.append("<dl>" + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts) + "</dl>")
        if p["facility"] not in {sc["settings"]["facility"] for sc in results["scenarios"]}:
            out.append(f'<p class="note">Trained for {_esc(p["facility"])}; some scenarios use another facility: its '
                       "rule-based base and training ranges are that facility's.</p>")
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d1d1f;margin:0;
background:#f6f7f9;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:18px 26px 60px}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:20px;margin:0 0 10px;border-bottom:2px solid #e2e5ea;padding-bottom:4px}
h3{font-size:16px;margin:4px 0}h4{font-size:15px;margin:18px 0 6px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:16px 20px;margin:18px 0}
section.alert{border:2px solid #c00000;background:#fff5f5}section.ok{border-left:6px solid #2e7d32}
.meta{color:#5f6368;font-size:13px}.note{color:#5f6368;font-size:13px}
.headline{font-size:17px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #e8eaed;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f1f3f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kpi tbody th{font-weight:normal;white-space:pre}
tr.bad td{background:#fdecea}td.badcell{background:#f8c6c0;font-weight:700;color:#8b0000}
.badge{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;font-weight:700}
.badge.ok{background:#e6f4ea;color:#1e6b34}.badge.bad{background:#c00000;color:#fff}
.alert-inline{color:#8b0000;font-weight:700}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:13px;margin:6px 0}
dt{color:#5f6368}dd{margin:0}
.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:8px 0;background:#fff}figcaption{font-size:12px;color:#5f6368;max-width:520px}
.scroll{overflow-x:auto}
svg.plot{background:#fff;font-size:11px}
svg .ct{text-anchor:middle;font-weight:600;font-size:13px}svg .yt{text-anchor:end;fill:#5f6368}
svg .xt{text-anchor:middle;fill:#5f6368}svg .xl,svg .yl{text-anchor:middle;fill:#3c4043}
svg .lg{fill:#3c4043}svg .hl{text-anchor:end;font-size:10px}svg .hl2{font-size:10px}
svg .bv{text-anchor:middle;font-size:10px;fill:#3c4043}
svg .grid{stroke:#eceff1}svg .axis{stroke:#9aa0a6}
.card{border-top:1px solid #e2e5ea;padding-top:8px;margin-top:8px}
nav a{margin-right:12px;font-size:13px}
"""


def render_report(results: dict[str, Any]) -> str:
    """The report page (HTML, self-contained) from a results mapping."""
    colors = policy_colors(results)
    timing = results.get("timing", {})
    nav = " ".join(f'<a href="#sc-{_esc(sc["name"])}">{_esc(sc["name"])}</a>' for sc in results["scenarios"])
    body = [
        f"<header><h1>{_esc(results['title'])}</h1>",
        f"<p>{_esc(results['description'])}</p>" if results["description"] else "",
        f'<p class="meta">Scenario file {_esc(results["source"])} · generated {_esc(results["generated_at"])} by '
        f'coolpilot {_esc(results["coolpilot_version"])} · {len(results["scenarios"])} scenario(s) × '
        f'{len(results["policies"])} policies'
        + (f' · {_num(timing.get("wall_s"), 0)} s on {timing.get("workers")} worker process(es)' if timing else "")
        + f' · baseline (site\'s current control): <b>{_esc(results["baseline"])}</b>'
        + (f' · proposed: <b>{_esc(results["proposed"])}</b>' if results["proposed"] else "") + "</p>",
        f'<nav><a href="#thermal-risk">thermal risk</a><a href="#summary">summary</a>{nav}'
        '<a href="#methodology">methodology</a><a href="#cards">policies</a></nav></header>',
        _thermal_section(results),
        _summary_section(results, colors),
        *(_scenario_section(results, sc, colors) for sc in results["scenarios"]),
        _methodology_section(results),
        _cards_section(results),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_esc(results['title'])} — coolpilot what-if report</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


# --- files ---------------------------------------------------------------------------------------


def _flat_kpis(k: dict[str, Any]) -> dict[str, Any]:
    row = {key: v for key, v in k.items() if not isinstance(v, dict | list)}
    row.update({f"energy_{c}_mwh": v for c, v in k["energy_by_component_mwh"].items()})
    row.update({f"setpoint_changes_{c}": v for c, v in k["setpoint_changes"].items()})
    return row


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    names: list[str] = []
    for r in rows:
        names += [n for n in r if n not in names]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``results.json``, ``kpis.csv``, ``monthly.csv`` and ``savings.csv`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean = sanitize(results)
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
    paths["report.html"].write_text(render_report(clean), encoding="utf-8")
    return paths


__all__ = ["bar_chart", "line_chart", "nice_ticks", "policy_colors", "render_report", "sanitize", "write_outputs"]
