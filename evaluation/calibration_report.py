"""What a calibration writes: the calibrated facility file, its sidecar, the report page and its JSON.

- ``SITE.yaml``: the draft facility file with the fitted fields replaced, led by a comment block naming
  the history, the period fitted and, per fitted value, its standard uncertainty, its 95 % interval,
  whether the data identified it and which recorded points informed it. It loads like any preset.
- ``SITE.calibration.json`` beside it: the same per parameter, machine-readable (the provenance a
  drift monitor or a later calibration reads).
- ``report.html`` and ``calibration.json`` (``--report DIR``): held-out Guideline 14 statistics per
  point for the calibrated and the draft facility, RMSE in K for temperatures, residuals over time,
  the identifiability table, the data's problems. The page is self-contained like the what-if report
  (the same stylesheet, inline SVG charts drawn by :mod:`coolpilot.evaluation.report`, no script, no
  external file); it is in English (the what-if report's catalogue does not cover calibration terms).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from coolpilot import __version__
from coolpilot.envs.calibration.metrics import G14_HOURLY, G14_MONTHLY, hour_labels
from coolpilot.envs.calibration.targets import NON_IT_POWER, is_power, is_temperature, unit_of
from coolpilot.envs.config import PRESETS_DIR, FacilityConfigError, facility_from_mapping
from coolpilot.envs.jsonsafe import json_safe
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.evaluation.calibration import Calibration, measured_series
from coolpilot.evaluation.report import ChartSpec, Figure, HLine, Series, line_chart

KEY_POINTS = (NON_IT_POWER, "inlet_temp_max_c", "chw_supply_temp_c", "chw_return_temp_c", "cooling_power_kw",
              "return_air_temp_c", "condenser_water_temp_c")
"""Points the report plots and summarizes first, where the history has them."""

LIMITS = (
    "The twin is the simulator's physics with fitted parameters: a plant whose behaviour the model lacks (a "
    "failing valve, humidity control, a second chilled-water loop) shows as residuals no parameter removes.",
    "Parameters reported as not identifiable keep values the data did not constrain: predictions under "
    "conditions the history never visited (another season, setpoints far from the history's) rest on them.",
    "Uncertainties combine the data's scatter (a Laplace approximation, autocorrelation counted) and the "
    "stated accuracy of the recorded weather and IT power; a sensor's own bias is not in them (a biased "
    "sensor shows as a steady residual: correct it with the column map's offset).",
    "The recorded IT power replaces the load profile in the replay, and zones share it as the per-zone IT "
    "power says (else as the facility's load profiles do): without per-zone IT power, per-zone inlet errors "
    "include the unknown split.",
    "Guideline 14's thresholds are for energy; monthly statistics need more months than fitted parameters "
    "(n − p > 0) and are reported as undefined otherwise.",
)
"""What the calibration cannot do, stated in every report."""
SUSPECT_BIAS_K = 0.3
"""A temperature the calibrated twin misses by a steady offset this large (K), in the fitted and the held-out period
alike and making up most of its error, is reported as a suspected sensor bias."""


# --- the facility file -----------------------------------------------------------------------------------------


def draft_source(name_or_path: str | Path) -> Path:
    """The YAML file behind a draft facility argument (a bundled preset's file, or the path)."""
    preset = PRESETS_DIR / f"{name_or_path}.yaml"
    return preset if preset.is_file() else Path(name_or_path)


def _set_field(data: dict[str, Any], path: str, value: float) -> None:
    parts = path.replace("]", "").replace("[", ".").split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[parts[-1]] = float(f"{value:.6g}")


def _provenance(cal: Calibration) -> dict[str, Any]:
    h = cal.history
    split_s = float(h.time_s[cal.split_step])
    return {
        "history": h.source, "fitted_from": h.iso(float(h.time_s[0])), "fitted_until": h.iso(split_s),
        "held_out_until": h.iso(float(h.time_s[-1]) + h.dt_s), "step_s": h.dt_s,
        "points_fitted": list(cal.names), "draft": cal.draft.name,
        "calibrated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "coolpilot_version": __version__,
    }


def write_facility(cal: Calibration, draft: str | Path, out: str | Path) -> tuple[Path, Path]:
    """Write the calibrated facility YAML (with its comment header) and its ``.calibration.json`` sidecar."""
    src = draft_source(draft)
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    values = np.array([e.value for e in cal.estimates])
    for path, value in cal.space.field_values(values).items():
        _set_field(data, path, value)
    data["name"] = target.stem
    data["description"] = f"{cal.draft.name} calibrated to {Path(cal.history.source).name} by coolpilot calibrate"
    for zone in data.get("zones", []):
        trace = (zone.get("load") or {}).get("trace_csv")
        if trace and not Path(trace).is_absolute():
            resolved = (src.parent / trace).resolve()
            zone["load"]["trace_csv"] = os.path.relpath(resolved, target.parent.resolve())
    try:
        facility_from_mapping(data, str(target), target.parent)
    except FacilityConfigError as err:
        raise FacilityConfigError(f"the calibrated facility does not validate: {err}") from None
    prov = _provenance(cal)
    lines = [
        f"Calibrated by coolpilot calibrate {prov['coolpilot_version']} on {prov['calibrated_at']}",
        f"draft: {cal.draft.name} ({src})",
        f"history: {prov['history']}",
        f"fitted on {prov['fitted_from']} .. {prov['fitted_until']}; held out until {prov['held_out_until']}",
        f"points fitted: {', '.join(cal.names)}",
        "",
        "fitted value ± standard uncertainty [95 % interval] (identified or not; points that informed it):",
    ]
    for e in cal.estimates:
        lo, hi = e.interval95
        fields = ", ".join(cal.space.params[[p.name for p in cal.space.params].index(e.name)].fields)
        status = "identified" if e.identifiable else f"NOT identifiable: {e.reason}"
        informed = ", ".join(e.informed_by) or "no point"
        lines.append(f"  {fields} = {e.value:.5g} ± {e.sd:.2g} {e.unit} [{lo:.4g}, {hi:.4g}] ({status}; {informed})")
    lines.append(f"sidecar with the full table: {target.stem}.calibration.json")
    header = "\n".join(f"# {line}".rstrip() for line in lines)
    target.write_text(header + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110),
                      encoding="utf-8")
    sidecar = target.with_name(f"{target.stem}.calibration.json")
    payload = {**prov, "parameters": [e.as_dict() for e in cal.estimates],
               "fields": cal.space.field_values(values)}
    sidecar.write_text(json.dumps(json_safe(payload), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return target, sidecar


# --- the results mapping -------------------------------------------------------------------------------------------


def _hourly(values: np.ndarray, hours: np.ndarray) -> np.ndarray:
    labels, index = np.unique(hours, return_inverse=True)
    ok = np.isfinite(values)
    count = np.bincount(index, weights=ok.astype(np.float64), minlength=len(labels))
    total = np.bincount(index, weights=np.where(ok, values, 0.0), minlength=len(labels))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def calibration_results(cal: Calibration, wall_s: float | None = None, facility_path: str | None = None
                        ) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready data (the content of ``calibration.json``)."""
    h = cal.history
    hours = hour_labels(h.time_s)
    hour_axis = (np.unique(hours) * SECONDS_PER_HOUR + 0.5 * SECONDS_PER_HOUR - h.time_s[0]) / SECONDS_PER_DAY
    scored = cal.inputs.scored()
    series: dict[str, Any] = {}
    for name in cal.names:
        meas = np.where(scored, measured_series(h, name), np.nan)
        series[name] = {
            "measured": _hourly(meas, hours).tolist(),
            "calibrated": _hourly(np.where(np.isfinite(meas), cal.predictions[name], np.nan), hours).tolist(),
            "draft": _hourly(np.where(np.isfinite(meas), cal.draft_predictions[name], np.nan), hours).tolist(),
        }
    n_p = len(cal.space.params)
    biased = []
    for name in cal.names:
        train, held_fit = cal.train_calibrated[name], cal.heldout_calibrated[name]
        if not is_temperature(unit_of(name)) or train.bias is None or held_fit.bias is None or train.rmse is None:
            continue
        if abs(train.bias) >= SUSPECT_BIAS_K and abs(train.bias) >= 0.8 * train.rmse and \
                np.sign(train.bias) == np.sign(held_fit.bias):
            biased.append({"name": name, "measured_minus_twin_k": -train.bias})
    held = {n: {"calibrated": cal.heldout_calibrated[n].as_dict(), "draft": cal.heldout_draft[n].as_dict()}
            for n in cal.names}
    return {
        "title": f"Calibration of {cal.draft.name} to {Path(h.source).name}",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "coolpilot_version": __version__,
        "facility": cal.calibrated.name if facility_path is None else facility_path,
        "draft": cal.draft.name,
        "provenance": _provenance(cal),
        "history": {"source": h.source, "start": h.iso(float(h.time_s[0])), "days": h.days, "step_s": h.dt_s,
                    "points": sorted(h.points), "setpoints": sorted(h.setpoints), "zone_inlets": sorted(h.zone_inlet_c),
                    "zone_it": sorted(h.zone_it_kw),
                    "issues": [i.as_dict() for i in (*h.quality, *cal.inputs.notes)]},
        "split": {"held_out_from_day": (h.time_s[cal.split_step] - h.time_s[0]) / SECONDS_PER_DAY,
                  "held_out_days": (h.n_steps - cal.split_step) * h.dt_s / SECONDS_PER_DAY,
                  "fitted_days": cal.split_step * h.dt_s / SECONDS_PER_DAY},
        "fit": {"optimizer": "CMA-ES (cma) + Levenberg-Marquardt", "parameters": n_p, "points": list(cal.names),
                "generations": cal.search_log.generations, "evaluations": cal.search_log.evaluations,
                "popsize": cal.settings.popsize, "stop": cal.search_log.stop, "loss_draft": cal.loss_draft,
                "loss_calibrated": cal.loss_fit, "search_wall_s": cal.search_log.wall_s, "wall_s": wall_s},
        "guideline14": {"hourly": {"cv_rmse_pct": G14_HOURLY.cv_rmse_pct, "nmbe_pct": G14_HOURLY.nmbe_pct},
                        "monthly": {"cv_rmse_pct": G14_MONTHLY.cv_rmse_pct, "nmbe_pct": G14_MONTHLY.nmbe_pct},
                        "n_params": n_p},
        "heldout": held,
        "train": {n: cal.train_calibrated[n].as_dict() for n in cal.names},
        "parameters": [e.as_dict() for e in cal.estimates],
        "suspected_bias": biased,
        "series": {"day": hour_axis.tolist(), "points": series},
        "limits": list(LIMITS),
    }


# --- the page ------------------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _sig(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}"


def _residual_chart(results: dict[str, Any], name: str) -> Figure:
    s = results["series"]
    days = s["day"]
    pts = s["points"][name]
    unit = "K" if is_temperature(unit_of(name)) else unit_of(name)
    lines = []
    for key, label, color, dashed in (("calibrated", "calibrated", "#1f77b4", False),
                                      ("draft", "draft", "#7f7f7f", True)):
        ys = [None if m is None or p is None or not (np.isfinite(m) and np.isfinite(p)) else p - m
              for m, p in zip(pts["measured"], pts[key], strict=True)]
        lines.append(Series(label, days, ys, color, dashed))
    split = results["split"]["held_out_from_day"]
    svg = line_chart(ChartSpec(f"{name}: predicted − measured (hourly)", "day of the history", unit, width=1040,
                               height=260), lines, [HLine(0.0, "0", "#9aa0a6")], vlines=[(split, "held out →")])
    return Figure(Markup(svg), f"Hourly residual of {name} over the whole history; the fit saw only the days left "
                               "of the dashed line.")


def _overlay_chart(results: dict[str, Any], name: str) -> Figure:
    s = results["series"]
    split = results["split"]["held_out_from_day"]
    keep = [i for i, d in enumerate(s["day"]) if d >= split]
    days = [s["day"][i] for i in keep]
    pts = s["points"][name]

    def cut(key: str) -> list[float | None]:
        return [None if v is None or not np.isfinite(v) else v for v in (pts[key][i] for i in keep)]

    unit = unit_of(name)
    svg = line_chart(ChartSpec(f"{name}, held out (hourly)", "day of the history", unit, width=520, height=260),
                     [Series("measured", days, cut("measured"), "#222222"),
                      Series("calibrated", days, cut("calibrated"), "#1f77b4"),
                      Series("draft", days, cut("draft"), "#7f7f7f", True)])
    return Figure(Markup(svg), f"{name} measured and predicted over the held-out period.")


def _point_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    order = [n for n in KEY_POINTS if n in results["heldout"]] + \
        [n for n in results["heldout"] if n not in KEY_POINTS]
    for name in order:
        row = {"name": name}
        for key in ("calibrated", "draft"):
            f = results["heldout"][name][key]
            temp = f["temperature"]
            row[key] = {
                "cv_h": _fmt(f["cv_rmse_hourly_pct"]), "nmbe_h": _fmt(f["nmbe_hourly_pct"]),
                "cv_m": _fmt(f["cv_rmse_monthly_pct"]), "nmbe_m": _fmt(f["nmbe_monthly_pct"]),
                "rmse": _fmt(f["rmse"], 3 if temp else 2), "bias": _fmt(f["bias"], 3 if temp else 2),
                "g14_h": f["g14_hourly_pass"], "g14_m": f["g14_monthly_pass"],
            }
        row["unit"] = "K" if results["heldout"][name]["calibrated"]["temperature"] else \
            results["heldout"][name]["calibrated"]["unit"]
        row["power"] = is_power(results["heldout"][name]["calibrated"]["unit"])
        rows.append(row)
    return rows


def _parameter_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [{
        "name": p["name"], "label": p["label"], "unit": p["unit"], "draft": _sig(p["draft"]),
        "value": _sig(p["value"]), "sd": _sig(p["sd"]), "sd_noise": _sig(p["sd_noise"]),
        "sd_inputs": _sig(p["sd_inputs"]), "low95": _sig(p["low95"]), "high95": _sig(p["high95"]),
        "bounds": f"{_sig(p['low'])} – {_sig(p['high'])}", "shrinkage": _fmt(p["shrinkage"], 2),
        "sensitivity": _sig(p["sensitivity"]), "identifiable": p["identifiable"], "input_limited": p["input_limited"],
        "reason": p["reason"],
        "informed_by": ", ".join(p["informed_by"]) or "—", "collinear_with": ", ".join(p["collinear_with"]) or "—",
    } for p in results["parameters"]]


@cache
def _environment() -> Environment:
    package = __name__.rpartition(".")[0]
    return Environment(loader=PackageLoader(package, "templates"), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_calibration_report(results: dict[str, Any]) -> str:
    """The calibration report page (HTML, self-contained) from :func:`calibration_results`."""
    plotted = [n for n in KEY_POINTS if n in results["series"]["points"]]
    headline = []
    for name in plotted:
        c, d = results["heldout"][name]["calibrated"], results["heldout"][name]["draft"]
        if c["temperature"]:
            headline.append({"name": name, "what": "RMSE (K, hourly)", "calibrated": _fmt(c["rmse"], 3),
                             "draft": _fmt(d["rmse"], 3)})
        else:
            headline.append({"name": name, "what": "CV(RMSE) / NMBE (%, hourly)",
                             "calibrated": f"{_fmt(c['cv_rmse_hourly_pct'])} / {_fmt(c['nmbe_hourly_pct'])}",
                             "draft": f"{_fmt(d['cv_rmse_hourly_pct'])} / {_fmt(d['nmbe_hourly_pct'])}"})
    unidentified = [p["name"] for p in results["parameters"] if not p["identifiable"]]
    return _environment().get_template("calibration.html.j2").render(
        r=results, headline=headline, points=_point_rows(results), parameters=_parameter_rows(results),
        unidentified=unidentified, residuals=[_residual_chart(results, n) for n in plotted],
        overlays=[_overlay_chart(results, n) for n in plotted], fmt=_fmt,
        issues=results["history"]["issues"], day_s=SECONDS_PER_DAY,
    )


def write_report(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html`` and ``calibration.json`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean: dict[str, Any] = json_safe(results)
    paths = {"report.html": out / "report.html", "calibration.json": out / "calibration.json"}
    paths["calibration.json"].write_text(json.dumps(clean, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    paths["report.html"].write_text(render_calibration_report(clean), encoding="utf-8")
    return paths
