"""The what-if report's words in English and Simplified Chinese: one message catalogue, number formats per locale.

Every label, unit phrase and sentence of the report (page template, tables, chart titles, axes, legends,
captions, policy descriptions, settings) is a key of :data:`MESSAGES` with its text in each language of
:data:`LANGUAGES`; a test checks that every key has every language and that a Chinese report shows no
English word beyond the names, units and acronyms the field writes in Latin letters (PUE, WUE, MWh,
CO2e, policy and scenario names). The Chinese uses the terms of Chinese data-centre energy practice
(冷水机组 chiller, 冷却塔 cooling tower, 自然冷却 free cooling, 精密空调 CRAH, 冷冻水 chilled water,
冷却水 condenser water, 电费 cost, 碳排放 carbon, 峰/平/谷 time-of-use periods).

Texts are ``str.format`` templates. Those used in the page may hold inline markup (``<b>``, ``<sub>``):
:meth:`Translator.markup` treats the catalogue text as markup and escapes every argument; chart text goes
through :meth:`Translator.text` and is escaped where the SVG is drawn.

Numbers follow each locale's convention: digits grouped by thousands with ',' and '.' as the decimal
point in both (CLDR ``#,##0.###`` for en and zh-Hans-CN); a percentage takes a space before '%' in English
(SI style, as the report always wrote it) and none in Chinese; yuan amounts read '元' in Chinese.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    # --- page frame -----------------------------------------------------------------------------------------
    "page.title": {"en": "{title} — coolpilot what-if report", "zh-CN": "{title} — coolpilot 假设分析报告"},
    "page.meta": {
        "en": "Scenario file {source} · generated {generated} by coolpilot {version} · {n_scenarios} scenario(s) × "
              "{n_policies} policies",
        "zh-CN": "场景文件 {source} · 由 coolpilot {version} 生成于 {generated} · {n_scenarios} 个场景 × {n_policies} "
                 "个策略"},
    "page.timing": {"en": " · {wall_s} s on {workers} worker process(es)",
                    "zh-CN": " · 用时 {wall_s} 秒，{workers} 个工作进程"},
    "page.baseline": {"en": " · baseline (site's current control): <b>{baseline}</b>",
                      "zh-CN": " · 基线（站点现行控制）：<b>{baseline}</b>"},
    "page.proposed": {"en": " · proposed: <b>{proposed}</b>", "zh-CN": " · 拟采用：<b>{proposed}</b>"},
    "nav.thermal_risk": {"en": "thermal risk", "zh-CN": "热风险"},
    "nav.summary": {"en": "summary", "zh-CN": "摘要"},
    "nav.methodology": {"en": "methodology", "zh-CN": "方法"},
    "nav.policies": {"en": "policies", "zh-CN": "策略"},
    # --- thermal risk ---------------------------------------------------------------------------------------
    "risk.title": {"en": "Thermal risk", "zh-CN": "热风险"},
    "risk.none": {
        "en": "No policy took any server inlet above its scenario's limit in any scenario. Hottest inlet anywhere: "
              "<b>{hottest} °C</b>.",
        "zh-CN": "所有场景中，没有任何策略使服务器进风温度超过该场景的限值。全部运行中最高进风温度：<b>{hottest} "
                 "°C</b>。"},
    "risk.alert_title": {"en": "⚠ Thermal risk: inlet limit exceeded", "zh-CN": "⚠ 热风险：进风温度超限"},
    "risk.alert": {
        "en": "<b>{n}</b> run(s) took server inlets above the scenario's limit. Energy saved by overheating is not a "
              "saving: these runs are marked {badge} wherever they appear, and their savings are not valid.",
        "zh-CN": "有 <b>{n}</b> 次运行使服务器进风温度超过场景限值。靠过热换来的节能不算节能：这些运行在报告中处处标为"
                 " {badge}，其节能结果无效。"},
    "col.scenario": {"en": "scenario", "zh-CN": "场景"},
    "col.policy": {"en": "policy", "zh-CN": "策略"},
    "col.period": {"en": "period", "zh-CN": "时段"},
    "col.inlet_limit": {"en": "inlet limit (°C)", "zh-CN": "进风温度限值（°C）"},
    "col.hottest_inlet": {"en": "hottest inlet (°C)", "zh-CN": "最高进风温度（°C）"},
    "col.dh_above_limit": {"en": "degree-hours above limit (K·h)", "zh-CN": "超限度时（K·h）"},
    "col.hours_above_limit": {"en": "hours above limit (h)", "zh-CN": "超限小时数（h）"},
    "badge.ok": {"en": "OK", "zh-CN": "正常"},
    "badge.overheat": {"en": "OVERHEAT", "zh-CN": "过热"},
    "badge.overheat_invalid": {"en": "OVERHEAT — saving not valid", "zh-CN": "过热 — 节能无效"},
    "badge.overheat_short": {"en": "OVERHEAT — not valid", "zh-CN": "过热 — 无效"},
    # --- executive summary ----------------------------------------------------------------------------------
    "summary.title": {"en": "Executive summary", "zh-CN": "管理摘要"},
    "summary.only_baseline": {"en": "Only the baseline policy <b>{baseline}</b> was run: there is nothing to compare.",
                              "zh-CN": "只运行了基线策略 <b>{baseline}</b>，没有可比较的对象。"},
    "summary.headline": {
        "en": "Against the site's current control (<b>{baseline}</b>), <b>{proposed}</b> changes facility energy by "
              "<b>{span}</b> (positive = saved) in the {valid} of {n} scenario(s) where it kept every inlet under "
              "the limit.",
        "zh-CN": "与站点现行控制（<b>{baseline}</b>）相比，在 {n} 个场景中进风温度全程未超限的 {valid} 个场景里，"
                 "<b>{proposed}</b> 使设施总能耗变化 <b>{span}</b>（正值为节省）。"},
    "summary.all_overheat": {"en": "<b>{proposed}</b> exceeded the inlet limit in every scenario: no saving of it is "
                                   "valid.",
                             "zh-CN": "<b>{proposed}</b> 在所有场景中都超过了进风温度限值，其任何节能结果均无效。"},
    "summary.span_one": {"en": "{value}", "zh-CN": "{value}"},
    "summary.span_range": {"en": "{low} to {high}", "zh-CN": "{low} 至 {high}"},
    "summary.explain": {
        "en": "Savings are over each scenario's simulated period (a year unless the period says otherwise); positive "
              "numbers are saved, negative numbers cost more. Carbon avoided is location-based (grid factor) and "
              "after green power (market-based).",
        "zh-CN": "节能量按各场景的模拟时段计（除非另有说明，均为一年）；正值为节省，负值为多耗。减排量分别按基于位置的"
                 "方法"
                 "（电网排放因子）和扣除绿电后的方法（基于市场）计算。"},
    "col.energy_saved": {"en": "energy saved (MWh)", "zh-CN": "节电量（MWh）"},
    "col.saved_pct": {"en": "saved (%)", "zh-CN": "节能率（%）"},
    "col.co2_avoided": {"en": "CO2e avoided (t)", "zh-CN": "碳减排（t CO2e）"},
    "col.co2_avoided_green": {"en": "CO2e avoided after green power (t)", "zh-CN": "扣除绿电后碳减排（t CO2e）"},
    "col.cost_saved": {"en": "cost saved", "zh-CN": "电费节省"},
    "col.water_saved": {"en": "water saved (m³)", "zh-CN": "节水量（m³）"},
    "col.pue_before_after": {"en": "PUE before → after", "zh-CN": "PUE 优化前 → 后"},
    "col.hottest_pair": {"en": "hottest inlet (°C) {baseline} / {proposed}",
                         "zh-CN": "最高进风温度（°C）{baseline} / {proposed}"},
    "col.kh_above_limit": {"en": "K·h above limit", "zh-CN": "超限度时（K·h）"},
    "col.oracle_share": {"en": "share of oracle's saving", "zh-CN": "占理想上限节能的比例"},
    "col.thermal": {"en": "thermal", "zh-CN": "热状态"},
    "chart.summary_title": {"en": "Facility energy saved vs {baseline} (%)", "zh-CN": "相对 {baseline} 的设施节能率（%"
                                                                                      "）"},
    "chart.summary_x": {"en": "scenario", "zh-CN": "场景"},
    "chart.summary_y": {"en": "% of facility energy", "zh-CN": "占设施能耗的 %"},
    "chart.summary_caption": {"en": "Savings vs oracle: each policy's facility-energy saving against {baseline}, per "
                                    "scenario",
                              "zh-CN": "各策略相对 {baseline} 的设施节能率（按场景）"},
    "chart.summary_caption_oracle": {"en": "; {oracle} (perfect knowledge) marks what is achievable.",
                                     "zh-CN": "；{oracle}（全知优化）表示可达到的上限。"},
    "chart.summary_caption_end": {"en": ".", "zh-CN": "。"},
    # --- a scenario -----------------------------------------------------------------------------------------
    "scenario.title": {"en": "Scenario: {name}", "zh-CN": "场景：{name}"},
    "scenario.flagged": {"en": "⚠ Inlet limit exceeded by: {policies}.", "zh-CN": "⚠ 进风温度超限的策略：{policies}。"},
    "scenario.in_sample": {
        "en": "⚑ {policies} saw this climate in training: read its result here as in-sample; climates it never saw "
              "are the fairer test.",
        "zh-CN": "⚑ {policies} 训练时用过该气候：此处结果属于样本内表现，未见过的气候才是更公平的检验。"},
    "scenario.synthetic": {
        "en": "⚑ Synthetic climate: {climate} is a typical year generated from published climate normals, not "
              "measured hourly weather.",
        "zh-CN": "⚑ 合成气候：{climate} 是由公开气候标准值生成的典型年，并非实测逐时气象数据。"},
    "scenario.kpis": {"en": "KPIs", "zh-CN": "关键指标"},
    "scenario.peak_week": {"en": "Peak week: setpoints and temperatures (days {first}–{last})",
                           "zh-CN": "峰值周：设定值与温度（第 {first}–{last} 天）"},
    "scenario.peak_week_note": {
        "en": "The 7 days of the period with the highest mean outdoor wet bulb (the whole period when shorter): "
              "where cooling is hardest and policies differ most.",
        "zh-CN": "时段内室外平均湿球温度最高的 7 天（时段更短时取整个时段）：制冷最困难、各策略差异最大的时候。"},
    "savings.title": {"en": "Savings against {reference}", "zh-CN": "相对 {reference} 的节省"},
    "savings.baseline_reference": {"en": "{baseline} (the site's current control)", "zh-CN": "{baseline}（站点现行控制"
                                                                                             "）"},
    "col.facility_energy": {"en": "facility energy (MWh)", "zh-CN": "设施能耗（MWh）"},
    "col.pct": {"en": "(%)", "zh-CN": "（%）"},
    "col.cooling_energy": {"en": "cooling energy (MWh)", "zh-CN": "制冷能耗（MWh）"},
    "col.co2_location": {"en": "CO2e location (t)", "zh-CN": "碳排放，基于位置（t CO2e）"},
    "col.co2_green": {"en": "CO2e after green power (t)", "zh-CN": "扣除绿电后碳排放（t CO2e）"},
    "col.cost": {"en": "cost", "zh-CN": "电费"},
    "col.water": {"en": "water (m³)", "zh-CN": "用水（m³）"},
    "col.pue": {"en": "PUE", "zh-CN": "PUE"},
    "col.kpi": {"en": "KPI", "zh-CN": "指标"},
    "col.unit": {"en": "unit", "zh-CN": "单位"},
    "kpi.thermal_status": {"en": "thermal status (inlet ≤ limit)", "zh-CN": "热状态（进风温度 ≤ 限值）"},
    # settings of a scenario
    "setting.facility": {"en": "facility", "zh-CN": "设施"},
    "setting.climate": {"en": "climate", "zh-CN": "气候"},
    "setting.history": {"en": "history", "zh-CN": "历史数据"},
    "history.weather": {"en": "recorded in the history", "zh-CN": "历史数据中的记录"},
    "history.weather_gaps": {"en": "recorded in the history; what it lacks from {climate}",
                             "zh-CN": "历史数据中的记录；缺失部分取自 {climate}"},
    "history.load": {"en": "recorded IT power (the IT work done, at the recorded inlet temperatures)",
                     "zh-CN": "记录的 IT 功率（按记录的进风温度折算的 IT 工作量）"},
    "history.title": {"en": "The site's recorded control", "zh-CN": "站点记录的控制"},
    "history.intro": {
        "en": "Every policy of this scenario ran on the weather and IT load recorded in <b>{files}</b>, over its "
              "period. {recorded}",
        "zh-CN": "本场景的每个策略都在 <b>{files}</b> 记录的天气与 IT 负载下、于其时段内运行。{recorded}"},
    "history.recorded_ran": {
        "en": "The policy <b>recorded</b> replays the setpoints the site's BMS was told; each setpoint's source:",
        "zh-CN": "策略 <b>recorded</b> 回放站点楼宇自控系统收到的设定值；各设定值的来源："},
    "history.recorded_absent": {"en": "Add the policy recorded to replay the site's own setpoints beside them.",
                                "zh-CN": "加入策略 recorded 即可同时回放站点自身的设定值。"},
    "history.source.recorded": {"en": "recorded", "zh-CN": "记录值"},
    "history.source.feedback": {"en": "not recorded: replayed from its feedback point {point}",
                                "zh-CN": "未记录：按其反馈测点 {point} 回放"},
    "history.source.legacy": {"en": "not recorded, nor its feedback point: held at the legacy value",
                              "zh-CN": "未记录，亦无反馈测点：保持传统设定值"},
    "history.source.local": {"en": "not recorded: runs on the plant's own local sequence",
                             "zh-CN": "未记录：由设备自身的本地程序控制"},
    "history.col_setpoint": {"en": "setpoint", "zh-CN": "设定值"},
    "history.col_source": {"en": "replayed from", "zh-CN": "回放来源"},
    "history.notes": {"en": "What was filled or bridged in the history (as read):",
                      "zh-CN": "历史数据中被补齐或桥接的部分（原文）："},
    "history.fit_title": {"en": "The recorded run beside the meters", "zh-CN": "回放运行与电表读数对比"},
    "history.fit_intro": {
        "en": "Energy the twin simulates under the recorded setpoints against what the site metered, over the steps "
              "the meters recorded: the twin's fit on this period. ASHRAE Guideline 14 calls hourly CV(RMSE) ≤ 30 % "
              "and |NMBE| ≤ 10 % calibrated (n − p denominators, p = {p}: {p_source}).",
        "zh-CN": "在记录的设定值下孪生模型模拟的能耗与站点电表读数的对比（仅取电表有记录的时段）：即孪生模型在该时段的"
                 "拟合度。ASHRAE Guideline 14 以逐时 CV(RMSE) ≤ 30%、|NMBE| ≤ 10% 为校准合格（分母 n − p，p = {p}："
                 "{p_source}）。"},
    "history.p_calibrated": {"en": "parameters the calibration fitted", "zh-CN": "校准所拟合的参数个数"},
    "history.p_draft": {"en": "the facility file has no calibration sidecar: this is an uncalibrated model's fit",
                        "zh-CN": "该设施文件没有校准附带文件：此为未校准模型的拟合度"},
    "history.no_meter": {"en": "The history has no facility power meter: the recorded run cannot be checked "
                               "against metered energy.",
                         "zh-CN": "历史数据中没有设施总功率电表：无法将回放运行与实测能耗对比。"},
    "history.col_quantity": {"en": "quantity", "zh-CN": "物理量"},
    "history.col_metered": {"en": "metered (MWh)", "zh-CN": "实测（MWh）"},
    "history.col_simulated": {"en": "simulated (MWh)", "zh-CN": "模拟（MWh）"},
    "history.col_difference": {"en": "simulated − metered", "zh-CN": "模拟 − 实测"},
    "history.col_cv": {"en": "CV(RMSE) hourly", "zh-CN": "逐时 CV(RMSE)"},
    "history.col_nmbe": {"en": "NMBE hourly", "zh-CN": "逐时 NMBE"},
    "history.col_g14": {"en": "Guideline 14 (hourly)", "zh-CN": "Guideline 14（逐时）"},
    "history.col_coverage": {"en": "steps metered", "zh-CN": "有电表记录的步数占比"},
    "history.q.facility_power_kw": {"en": "facility energy", "zh-CN": "设施总能耗"},
    "history.q.non_it_power_kw": {"en": "non-IT energy (facility − IT)", "zh-CN": "非 IT 能耗（设施 − IT）"},
    "history.pass": {"en": "passes", "zh-CN": "合格"},
    "history.fail": {"en": "fails", "zh-CN": "不合格"},
    "setting.period": {"en": "period", "zh-CN": "时段"},
    "setting.load": {"en": "IT load", "zh-CN": "IT 负载"},
    "setting.limits": {"en": "limits", "zh-CN": "限值"},
    "setting.outages": {"en": "outages", "zh-CN": "设备停运"},
    "setting.weather": {"en": "weather", "zh-CN": "天气"},
    "setting.tariff": {"en": "tariff", "zh-CN": "电价"},
    "setting.carbon": {"en": "carbon", "zh-CN": "碳排放"},
    "period.span": {"en": "{days} days from day {start}", "zh-CN": "自第 {start} 天起共 {days} 天"},
    "period.named": {"en": "{name} ({span})", "zh-CN": "{name}（{span}）"},
    "period.year": {"en": "year", "zh-CN": "全年"},
    "period.history": {"en": "the history's period", "zh-CN": "历史数据时段"},
    "period.winter": {"en": "winter", "zh-CN": "冬季"},
    "period.spring": {"en": "spring", "zh-CN": "春季"},
    "period.summer": {"en": "summer", "zh-CN": "夏季"},
    "period.autumn": {"en": "autumn", "zh-CN": "秋季"},
    **{f"period.{m}": {"en": m, "zh-CN": f"{i + 1}月"} for i, m in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
         "november", "december"))},
    "load.text": {"en": "level × {level}, growth {growth} %/yr", "zh-CN": "负载系数 × {level}，年增长 {growth}%"},
    "limits.inlet": {"en": "inlet ≤ {limit} °C", "zh-CN": "进风温度 ≤ {limit} °C"},
    "limits.range": {"en": "{name} {low}–{high}", "zh-CN": "{name} {low}–{high}"},
    "outage.chillers": {"en": "{n} chiller(s)", "zh-CN": "{n} 台冷水机组"},
    "outage.tower_cells": {"en": "{n} tower cell(s)", "zh-CN": "{n} 个冷却塔单元"},
    "outage.crah": {"en": "{share} % of CRAH capacity in {zone}", "zh-CN": "{zone} 区 {share}% 的精密空调容量"},
    "outage.none": {"en": "none", "zh-CN": "无"},
    "weather.offset": {"en": "{k} K all year", "zh-CN": "全年 {k} K"},
    "weather.heat_wave": {"en": "heat wave +{k} K from day {start} for {days} d",
                          "zh-CN": "热浪：自第 {start} 天起 {days} 天，升温 {k} K"},
    "weather.constant_rh": {"en": "relative humidity kept", "zh-CN": "保持相对湿度"},
    "weather.constant_dew_point": {"en": "dew point kept", "zh-CN": "保持露点"},
    "weather.shifted": {"en": "{shifts} ({humidity})", "zh-CN": "{shifts}（{humidity}）"},
    "weather.as_recorded": {"en": "as recorded", "zh-CN": "按原始气象数据"},
    "tariff.flat": {"en": "{price} {currency}/MWh", "zh-CN": "{price} {currency}/MWh"},
    "tariff.windows": {"en": ", time of use: {windows}", "zh-CN": "，分时电价：{windows}"},
    "tariff.window": {"en": "{name} {start}–{end} h {price}", "zh-CN": "{name} {start}–{end} 时 {price}"},
    "tariff.weekdays": {"en": " weekdays", "zh-CN": "（仅工作日）"},
    "tariff.template": {
        "en": ", time of use by the {name} template (peak/flat/valley ratios on {share} % of the flat price; "
              "{source})",
        "zh-CN": "，按{name}分时模板计价（峰/平/谷比价作用于平段电价的 {share}%；{source}）"},
    "tariff.flat_price_of_template": {"en": "flat {price} {currency}/MWh", "zh-CN": "平段 {price} {currency}/MWh"},
    "tariff.demand": {"en": "; demand charge {price} {currency}/kW·month on each month's peak 15-minute power",
                      "zh-CN": "；需量电费 {price} {currency}/kW·月，按每月最大 15 分钟平均功率计"},
    "tariff.demand_window": {"en": " within {start}–{end} h", "zh-CN": "，仅计 {start}–{end} 时"},
    "tariff.archetype": {"en": "BOPTEST {name} price, scaled to {price} {currency}/MWh for its constant level",
                         "zh-CN": "BOPTEST {name}电价，按恒定电价 {price} {currency}/MWh 缩放"},
    "archetype.constant": {"en": "constant", "zh-CN": "恒定"},
    "archetype.dynamic": {"en": "dynamic (day/night)", "zh-CN": "峰谷（日/夜）"},
    "archetype.highly_dynamic": {"en": "highly dynamic (spot)", "zh-CN": "高度动态（现货）"},
    "tariff.forecast": {"en": "; price forecast uncertainty {level}", "zh-CN": "；电价预测不确定性：{level}"},
    "forecast.low": {"en": "low", "zh-CN": "低"},
    "forecast.medium": {"en": "medium", "zh-CN": "中"},
    "forecast.high": {"en": "high", "zh-CN": "高"},
    "tariff.water": {"en": "; water {price} {currency}/m³", "zh-CN": "；水费 {price} {currency}/m³"},
    "tariff.water_none": {"en": "; water not priced", "zh-CN": "；水费未计"},
    "carbon.constant": {"en": "grid {factor} t/MWh", "zh-CN": "电网排放因子 {factor} t/MWh"},
    "carbon.region": {"en": "grid {factor} t/MWh of {region} ({source})",
                      "zh-CN": "电网排放因子 {factor} t/MWh，{region}（{source}）"},
    "carbon.hourly": {"en": "grid hourly profile {file}", "zh-CN": "电网逐时排放因子 {file}"},
    "carbon.solar": {"en": " as the year's mean of a grid with {share} % solar (hourly, from the climate's sun)",
                     "zh-CN": "（年均值；光伏占比 {share}% 的电网，按气候逐时日照）"},
    "carbon.forecast": {"en": ", forecast uncertainty {level}", "zh-CN": "，预测不确定性：{level}"},
    "carbon.green": {"en": "{grid}, green power {share} %", "zh-CN": "{grid}，绿电占比 {share}%"},
    # --- KPI table rows ---------------------------------------------------------------------------------------
    "kpi.pue": {"en": "PUE", "zh-CN": "PUE"},
    "kpi.facility_energy_mwh": {"en": "facility energy", "zh-CN": "设施总能耗"},
    "kpi.it_energy_mwh": {"en": "IT energy", "zh-CN": "IT 能耗"},
    "kpi.cooling_energy_mwh": {"en": "cooling energy (plant)", "zh-CN": "制冷能耗（制冷站）"},
    "kpi.non_it_energy_mwh": {"en": "non-IT energy (facility − IT)", "zh-CN": "非 IT 能耗（设施 − IT）"},
    "kpi.peak_facility_power_kw": {"en": "peak facility power (15-minute average)",
                                   "zh-CN": "设施峰值功率（15 分钟平均）"},
    "kpi.pv_energy_mwh": {"en": "on-site PV energy", "zh-CN": "自有光伏发电量"},
    "kpi.pv_self_consumption_pct": {"en": "PV self-consumption", "zh-CN": "光伏自用率"},
    "kpi.pv_share_of_facility_pct": {"en": "share of facility energy from PV", "zh-CN": "光伏占设施能耗比例"},
    "kpi.pv_curtailed_mwh": {"en": "PV curtailed (no export)", "zh-CN": "光伏弃电量（不上网）"},
    "kpi.grid_energy_mwh": {"en": "grid energy (facility − PV)", "zh-CN": "电网购电量（设施 − 光伏）"},
    "kpi.peak_grid_power_kw": {"en": "peak grid power (15-minute average)", "zh-CN": "电网峰值功率（15 分钟平均）"},
    "kpi.water_m3": {"en": "water", "zh-CN": "用水量"},
    "kpi.wue_l_per_kwh": {"en": "WUE", "zh-CN": "WUE"},
    "kpi.carbon_location_t_co2e": {"en": "carbon, location-based", "zh-CN": "碳排放（基于位置）"},
    "kpi.carbon_after_green_t_co2e": {"en": "carbon after green power", "zh-CN": "扣除绿电后碳排放"},
    "kpi.total_cost": {"en": "cost (energy + water)", "zh-CN": "费用（电费 + 水费）"},
    "kpi.inlet_temp_max_c": {"en": "hottest inlet", "zh-CN": "最高进风温度"},
    "kpi.degree_hours_above_27c": {"en": "degree-hours above 27 °C", "zh-CN": "超过 27 °C 的度时"},
    "kpi.hours_above_27c": {"en": "hours above 27 °C", "zh-CN": "超过 27 °C 的小时数"},
    "kpi.degree_hours_above_limit": {"en": "degree-hours above the limit", "zh-CN": "超过限值的度时"},
    "kpi.free_cooling_hours": {"en": "free-cooling hours (economizer on)", "zh-CN": "自然冷却小时数（板换投入）"},
    "kpi.full_free_cooling_hours": {"en": "full free-cooling hours (chillers off)",
                                    "zh-CN": "完全自然冷却小时数（冷水机组停机）"},
    "kpi.setpoint_changes_total": {"en": "setpoint changes", "zh-CN": "设定值调整次数"},
    "kpi.setpoint_changes_per_day": {"en": "setpoint changes per day", "zh-CN": "每日设定值调整次数"},
    "kpi.chiller_starts": {"en": "chiller starts", "zh-CN": "冷水机组启动次数"},
    "kpi.chiller_starts_per_day": {"en": "chiller starts per day", "zh-CN": "每日冷水机组启动次数"},
    "kpi.liquid.case_temp_max_c": {"en": "hottest GPU case (liquid cooling)", "zh-CN": "GPU 最高壳温（液冷）"},
    "kpi.liquid.case_limit_c": {"en": "GPU case-temperature limit", "zh-CN": "GPU 壳温限值"},
    "kpi.liquid.hours_above_case_limit": {"en": "hours with a GPU case above the limit", "zh-CN": "GPU 壳温超限小时数"},
    "kpi.liquid.degree_hours_above_case_limit": {"en": "degree-hours of GPU cases above the limit",
                                                 "zh-CN": "GPU 壳温超限度时"},
    "kpi.liquid.throttled_gpu_energy_mwh": {"en": "GPU energy shed by throttling (lost compute)",
                                            "zh-CN": "GPU 降频削减的电量（损失算力）"},
    "kpi.liquid.cdu_heat_mwh": {"en": "heat the CDUs moved (liquid-captured)", "zh-CN": "CDU 转移的热量（液冷带走）"},
    "kpi.liquid.trim_hours": {"en": "trim hours (facility water cooled by the chilled-water plant)",
                              "zh-CN": "补冷小时数（一次侧冷却水由冷冻水系统补冷）"},
    "kpi.liquid.trim_heat_mwh": {"en": "heat passed to the chilled-water plant (trim)",
                                 "zh-CN": "转入冷冻水系统的热量（补冷）"},
    "kpi.liquid.fws_supply_mean_c": {"en": "facility-water supply, mean", "zh-CN": "一次侧供水温度（平均）"},
    "kpi.liquid.fws_supply_max_c": {"en": "facility-water supply, highest", "zh-CN": "一次侧供水温度（最高）"},
    "kpi.liquid.cdu_pump_energy_mwh": {"en": "CDU pumps", "zh-CN": "CDU 水泵能耗"},
    "kpi.liquid.fws_pump_energy_mwh": {"en": "facility-water pumps", "zh-CN": "一次侧水泵能耗"},
    "kpi.liquid.dry_cooler_fan_energy_mwh": {"en": "dry-cooler fans", "zh-CN": "干冷器风机能耗"},
    "kpi.heat_reuse.reused_heat_mwh": {"en": "heat reused (delivered to district heating)",
                                       "zh-CN": "余热回收量（供给区域供热）"},
    "kpi.heat_reuse.heat_demand_mwh": {"en": "district-heating demand", "zh-CN": "区域供热需求"},
    "kpi.heat_reuse.demand_met_pct": {"en": "share of the demand met", "zh-CN": "供热需求满足率"},
    "kpi.heat_reuse.heat_pump_energy_mwh": {"en": "heat-pump electricity", "zh-CN": "热泵耗电量"},
    "kpi.heat_reuse.heat_pump_cop_mean": {"en": "heat-pump mean COP", "zh-CN": "热泵平均 COP"},
    "kpi.heat_reuse.total_energy_mwh": {"en": "total energy (facility + heat pump)", "zh-CN": "总能耗（设施 + 热泵）"},
    "kpi.heat_reuse.pue_total": {"en": "PUE with the heat pump (total / IT)", "zh-CN": "计入热泵的 PUE（总能耗 / IT）"},
    "kpi.heat_reuse.erf": {"en": "ERF (energy reuse factor)", "zh-CN": "ERF（能源再利用系数）"},
    "kpi.heat_reuse.ere": {"en": "ERE (energy reuse effectiveness)", "zh-CN": "ERE（能源再利用效率）"},
    "kpi.heat_reuse.heat_price_per_mwh": {"en": "heat price", "zh-CN": "热价"},
    "kpi.heat_reuse.heat_revenue": {"en": "heat revenue", "zh-CN": "售热收入"},
    "kpi.heat_reuse.electricity_cost": {"en": "electricity cost (facility + heat pump)",
                                        "zh-CN": "电费（设施 + 热泵）"},
    "kpi.heat_reuse.net_cost": {"en": "net cost (electricity + water − heat revenue)",
                                "zh-CN": "净费用（电费 + 水费 − 售热收入）"},
    "kpi.heat_reuse.displaced_kg_per_kwh": {"en": "carbon of the displaced heat", "zh-CN": "被替代热源的碳排放因子"},
    "kpi.heat_reuse.carbon_avoided_t_co2e": {"en": "carbon avoided by the reused heat",
                                             "zh-CN": "余热替代减少的碳排放"},
    "kpi.heat_reuse.net_carbon_t_co2e": {"en": "net carbon (facility + heat pump − avoided)",
                                         "zh-CN": "净碳排放（设施 + 热泵 − 减排量）"},
    "component.it": {"en": "IT", "zh-CN": "IT"},
    "component.crah_fans": {"en": "CRAH fans", "zh-CN": "精密空调风机"},
    "component.chillers": {"en": "chillers", "zh-CN": "冷水机组"},
    "component.tower_fans": {"en": "tower fans", "zh-CN": "冷却塔风机"},
    "component.chw_pumps": {"en": "chilled-water pumps", "zh-CN": "冷冻水泵"},
    "component.cw_pumps": {"en": "condenser pumps", "zh-CN": "冷却水泵"},
    "component.distribution_losses": {"en": "UPS/distribution losses", "zh-CN": "UPS/配电损耗"},
    "component.lighting": {"en": "lighting", "zh-CN": "照明"},
    "component.cdu_pumps": {"en": "CDU pumps", "zh-CN": "CDU 循环泵"},
    "component.fws_pumps": {"en": "facility-water pumps", "zh-CN": "一次侧（设施水）水泵"},
    "component.dry_cooler_fans": {"en": "dry-cooler fans", "zh-CN": "干冷器风机"},
    "unit.fraction": {"en": "fraction", "zh-CN": "比例"},
    "setpoint.supply_air_temp_c": {"en": "supply air temperature (°C)", "zh-CN": "送风温度（°C）"},
    "setpoint.crah_fan_speed_frac": {"en": "CRAH fan speed (fraction)", "zh-CN": "精密空调风机转速（比例）"},
    "setpoint.chw_supply_temp_c": {"en": "chilled-water supply temperature (°C)", "zh-CN": "冷冻水供水温度（°C）"},
    "setpoint.condenser_water_temp_c": {"en": "condenser water temperature (°C)", "zh-CN": "冷却水温度（°C）"},
    "setpoint.chiller_stage_up_plr": {"en": "chiller stage-up part-load ratio (fraction)",
                                      "zh-CN": "冷水机组加机负载率（比例）"},
    "setpoint.tower_cell_flow_min_frac": {"en": "minimum water flow per tower cell (fraction of design)",
                                          "zh-CN": "冷却塔单元最小水量（占设计值比例）"},
    "setpoint.chw_dp_setpoint_frac": {"en": "chilled-water differential-pressure setpoint (fraction of design)",
                                      "zh-CN": "冷冻水压差设定值（占设计值比例）"},
    "setpoint.cw_flow_frac": {"en": "condenser-water flow per chiller (fraction of design)",
                              "zh-CN": "单台冷水机组冷却水流量（占设计值比例）"},
    "setpoint.economizer_enable": {"en": "economizer enable (on at ≥ 0.5)", "zh-CN": "板换启用（≥ 0.5 为开启）"},
    "setpoint.tes_rate_frac": {"en": "storage tank rate (fraction of rated: > 0 discharge, < 0 charge)",
                               "zh-CN": "蓄冷罐充放冷速率（额定值的比例：> 0 放冷，< 0 蓄冷）"},
    "setpoint.fws_supply_temp_c": {"en": "facility-water supply temperature (°C)", "zh-CN": "一次侧供水温度（°C）"},
    "setpoint.tcs_supply_temp_c": {"en": "rack coolant supply temperature (°C)",
                                   "zh-CN": "二次侧（机柜冷却液）供液温度（°C）"},
    "setpoint.cdu_flow_frac": {"en": "CDU coolant flow (fraction of design)",
                               "zh-CN": "冷量分配单元冷却液流量（占设计值比例）"},
    "setpoint.heat_pump_duty_frac": {"en": "heat-pump duty limit (fraction of capacity)",
                                     "zh-CN": "热泵负荷上限（占额定容量比例）"},
    "action.residual": {"en": "residual", "zh-CN": "残差"},
    "action.absolute": {"en": "absolute", "zh-CN": "绝对值"},
    "unit.currency_per_mwh": {"en": "{currency}/MWh", "zh-CN": "{currency}/MWh"},
    # --- charts ---------------------------------------------------------------------------------------------
    "chart.pue_monthly": {"en": "Monthly PUE per policy", "zh-CN": "各策略月度 PUE"},
    "chart.pue_daily": {"en": "Daily PUE per policy", "zh-CN": "各策略逐日 PUE"},
    "chart.axis_month": {"en": "month", "zh-CN": "月份"},
    "chart.axis_day": {"en": "day of year", "zh-CN": "年内天数"},
    "chart.pue_caption_monthly": {"en": "{title}: facility energy over IT energy, per calendar month of the period.",
                                  "zh-CN": "{title}：设施能耗与 IT 能耗之比，按时段内的自然月统计。"},
    "chart.pue_caption_daily": {"en": "{title}: facility energy over IT energy, per day of the period.",
                                "zh-CN": "{title}：设施能耗与 IT 能耗之比，按时段内逐日统计。"},
    "chart.energy_title": {"en": "Non-IT energy by component (MWh)", "zh-CN": "非 IT 能耗分项（MWh）"},
    "chart.axis_policy": {"en": "policy", "zh-CN": "策略"},
    "chart.energy_caption": {
        "en": "Energy breakdown: facility energy above IT (cooling plant, UPS/distribution losses, lighting), by "
              "component. IT energy is in the KPI table.",
        "zh-CN": "能耗分解：IT 以外的设施能耗（制冷站、UPS/配电损耗、照明），按分项列出。IT 能耗见关键指标表。"},
    "chart.inlet_title": {"en": "Hottest server inlet: hours per 0.5 K", "zh-CN": "最高服务器进风温度：每 0.5 K 区间的"
                                                                                  "小时数"},
    "chart.inlet_x": {"en": "hottest inlet (°C)", "zh-CN": "最高进风温度（°C）"},
    "chart.hours": {"en": "hours", "zh-CN": "小时"},
    "chart.limit_mark": {"en": "limit {limit} °C", "zh-CN": "限值 {limit} °C"},
    "chart.inlet_caption": {
        "en": "Inlet-temperature distribution: hours at each hottest-inlet temperature (ASHRAE recommended limit "
              "27 °C; this scenario's limit {limit} °C).",
        "zh-CN": "进风温度分布：最高进风温度处于各温度区间的小时数（ASHRAE 推荐上限 27 °C；本场景限值 {limit} °C）。"},
    "chart.week_inlet": {"en": "Hottest server inlet", "zh-CN": "最高服务器进风温度"},
    "chart.week_sat": {"en": "Supply air setpoint", "zh-CN": "送风温度设定值"},
    "chart.week_chw": {"en": "Chilled-water setpoint", "zh-CN": "冷冻水供水温度设定值"},
    "chart.week_cw": {"en": "Condenser water setpoint", "zh-CN": "冷却水温度设定值"},
    "chart.week_fan": {"en": "CRAH fan speed setpoint", "zh-CN": "精密空调风机转速设定值"},
    "chart.week_power": {"en": "Facility power", "zh-CN": "设施功率"},
    "chart.week_stage_up": {"en": "Chiller stage-up part-load ratio", "zh-CN": "冷水机组加机负载率设定值"},
    "chart.week_tower_cell_flow": {"en": "Minimum flow per tower cell", "zh-CN": "冷却塔单元最小水量设定值"},
    "chart.week_dp": {"en": "Chilled-water differential-pressure setpoint", "zh-CN": "冷冻水压差设定值"},
    "chart.week_cw_flow": {"en": "Condenser-water flow setpoint", "zh-CN": "冷却水流量设定值"},
    "chart.week_economizer": {"en": "Economizer enable", "zh-CN": "板换启用"},
    "chart.week_chillers": {"en": "Chillers running", "zh-CN": "运行的冷水机组台数"},
    "chart.week_tower_cells": {"en": "Tower cells running", "zh-CN": "运行的冷却塔单元数"},
    "chart.week_chw_flow_plant": {"en": "Chilled-water flow", "zh-CN": "冷冻水流量"},
    "chart.week_tes_soc": {"en": "Storage tank state of charge", "zh-CN": "蓄冷罐蓄冷状态（SoC）"},
    "chart.week_tes_discharge": {"en": "Storage tank: cold delivered (> 0) or charged (< 0)",
                                 "zh-CN": "蓄冷罐：放冷（> 0）或蓄冷（< 0）功率"},
    "chart.week_case_temp": {"en": "Hottest GPU case", "zh-CN": "GPU 最高壳温"},
    "chart.week_fws_supply": {"en": "Facility-water supply temperature", "zh-CN": "一次侧供水温度"},
    "chart.week_trim": {"en": "Trim: facility-water heat passed to the chilled-water plant",
                        "zh-CN": "补冷：一次侧热量转入冷冻水系统"},
    "chart.week_heat_reused": {"en": "Heat reused (delivered to district heating)",
                               "zh-CN": "余热回收功率（供给区域供热）"},
    "chart.heat_demand": {"en": "district-heating demand", "zh-CN": "区域供热需求"},
    "chart.week_cw_flow_plant": {"en": "Condenser-water flow per running chiller",
                                 "zh-CN": "每台运行冷水机组的冷却水流量"},
    "chart.week_setpoint": {"en": "{name} setpoint", "zh-CN": "{name} 设定值"},
    "unit.count": {"en": "number", "zh-CN": "台/格数"},
    "chart.wet_bulb": {"en": "outdoor wet bulb", "zh-CN": "室外湿球温度"},
    "chart.week_caption": {"en": "{title} ({unit}), hourly means", "zh-CN": "{title}（{unit}），小时平均值"},
    "month.1": {"en": "Jan", "zh-CN": "1月"}, "month.2": {"en": "Feb", "zh-CN": "2月"},
    "month.3": {"en": "Mar", "zh-CN": "3月"}, "month.4": {"en": "Apr", "zh-CN": "4月"},
    "month.5": {"en": "May", "zh-CN": "5月"}, "month.6": {"en": "Jun", "zh-CN": "6月"},
    "month.7": {"en": "Jul", "zh-CN": "7月"}, "month.8": {"en": "Aug", "zh-CN": "8月"},
    "month.9": {"en": "Sep", "zh-CN": "9月"}, "month.10": {"en": "Oct", "zh-CN": "10月"},
    "month.11": {"en": "Nov", "zh-CN": "11月"}, "month.12": {"en": "Dec", "zh-CN": "12月"},
    # --- methodology ----------------------------------------------------------------------------------------
    "method.title": {"en": "Assumptions and methodology", "zh-CN": "假设与方法"},
    "method.model_title": {"en": "The model", "zh-CN": "模型"},
    "method.model": {
        "en": "Each run simulates the facility minute by minute in 5-minute control steps (the scenario's step) on "
              "coolpilot's reduced-order plant model: IT load per zone with server fans that draw more power above "
              "a 24 °C inlet; CRAH fans on EnergyPlus part-load curves, recirculation and zone thermal mass; a "
              "chilled-water loop with thermal mass; an integrated waterside economizer; staged chillers on DOE-2 "
              "EIR curves; cooling towers on the YorkCalc approach model with evaporation, drift and blowdown; "
              "pumps; UPS/distribution losses and lighting. Energy balances by construction. Weather is the "
              "climate's typical meteorological year (NREL TMY3, a synthetic typical year, or the EPW file given), "
              "interpolated to the step; the IT load follows each zone's profile with seeded noise, identical for "
              "every policy of a scenario. Every policy sees only the points a BMS reports; the oracle alone sees "
              "the plant and the future (perfect knowledge) and searches setpoint plans on the same model: it marks "
              "what is achievable, and its saving is a lower bound of the best possible.",
        "zh-CN": "每次运行以 5 分钟控制步长（即场景设定的步长）在 coolpilot 的降阶制冷系统模型上逐分钟模拟设施：各区 "
                 "IT "
                 "负载，服务器进风超过 24 °C 后服务器风扇功率上升；精密空调风机采用 EnergyPlus 部分负荷曲线，考虑回流"
                 "与区域热惯性；冷冻水环路含热惯性；集成水侧自然冷却（板式换热器）；多台冷水机组按 DOE-2 EIR 曲线分级"
                 "运行；冷却塔采用 YorkCalc 逼近度模型，计入蒸发、飘水与排污；水泵；UPS/配电损耗与照明。模型本身保证"
                 "能量守恒。气象采用该气候的典型气象年（NREL TMY3、合成典型年或用户提供的 EPW 文件），插值到控制步长；"
                 "IT 负载按各区曲线叠加带随机种子的噪声，同一场景内各策略完全相同。所有策略只能看到 BMS 上报的测点；"
                 "唯有理想上限（oracle）能看到制冷系统内部状态和未来信息（全知），并在同一模型上搜索设定值方案：它标出"
                 "可达到的水平，其节能量是理论最优的下界。"},
    "method.levers_title": {"en": "Scenario levers", "zh-CN": "场景参数"},
    "method.lever_load": {
        "en": "<b>IT load</b>: the level multiplies every zone's utilization (a zone cannot exceed its design IT "
              "power); growth adds a trend over the period.",
        "zh-CN": "<b>IT 负载</b>：负载系数乘以各区利用率（任何区不得超过其设计 IT 功率）；增长率在时段内叠加趋势。"},
    "method.lever_limits": {
        "en": "<b>Limits</b>: the inlet limit (27 °C, ASHRAE TC 9.9 recommended; up to 32 °C, class A1 allowable) "
              "sets the thermal-risk KPIs; the rule-based controller keeps its margins under it and the oracle "
              "plans to it; a learned bundle keeps the limit it was trained for. Setpoint ranges are clamped by the "
              "plant for every policy.",
        "zh-CN": "<b>限值</b>：进风温度限值（27 °C 为 ASHRAE TC 9.9 推荐值；最高 32 °C，为 A1 级允许值）决定热风险指标"
                 "；"
                 "规则控制在其下保留裕量，理想上限按其规划；学习得到的策略包沿用训练时的限值。设定值范围对所有策略"
                 "一律由制冷系统限幅。"},
    "method.lever_outages": {
        "en": "<b>Outages</b> last the whole period: chillers out of service (the rest stage as usual), tower cells "
              "isolated, a share of a zone's CRAH capacity lost (its airflow and fan power).",
        "zh-CN": "<b>设备停运</b>持续整个时段：冷水机组退出运行（其余机组照常分级）、冷却塔单元隔离、某区损失部分精密空"
                 "调"
                 "容量（风量与风机功率）。"},
    "method.lever_weather": {
        "en": "<b>Weather</b>: an offset and a heat wave raise the dry bulb (ramped in and out); relative humidity "
              "or dew point is held, and wet bulb recomputed (Magnus dew point, Stull 2011 wet bulb).",
        "zh-CN": "<b>天气</b>：整体偏移与热浪提高干球温度（逐步升降）；保持相对湿度或露点，并重新计算湿球温度（Magnus "
                 "露点公式，Stull 2011 湿球公式）。"},
    "method.lever_tariff": {
        "en": "<b>Tariff</b>: energy price per MWh, flat, in time-of-use windows (local standard time; day 0 is a "
              "Monday), or a Chinese provincial peak/flat/valley template (its notice's hours and ratios on the "
              "scenario's flat price, every day); default {price} per MWh (≈ US average industrial price 2023, "
              "EIA). A demand charge, when given, is priced on each calendar month's peak 15-minute power.",
        "zh-CN": "<b>电价</b>：每 MWh 电价，可为单一电价、分时窗口（当地标准时间；第 0 天为星期一），或中国省级峰/平/谷"
                 "分时模板（按其文件规定的时段与比价作用于场景的平段电价，每天执行）；默认每 MWh {price}（约为 2023 年"
                 "美国工业平均电价，EIA）。给出需量电价时，按每个自然月最大 15 分钟平均功率计费。"},
    "method.lever_carbon": {
        "en": "<b>Carbon</b>: grid factor per MWh, constant, of a Chinese region or province (MEE/NBS 2022 "
              "factors), or hourly; default {factor} t CO2/MWh (China's 2022 national grid average of the carbon "
              "market, Ministry of Ecology and Environment). Green power reduces the market-based figure by its "
              "share.",
        "zh-CN": "<b>碳排放</b>：每 MWh 电网排放因子，可为常数、中国区域或省级因子（生态环境部、国家统计局 2022 年电力"
                 "二氧化碳排放因子）或逐时曲线；默认 {factor} t CO2/MWh（生态环境部公布的 2022 年度全国电网平均排放"
                 "因子）。绿电按其占比降低基于市场的排放量。"},
    "method.kpis_title": {"en": "KPI definitions", "zh-CN": "指标定义"},
    "method.kpi_pue": {"en": "<b>PUE</b> = facility energy / IT energy (The Green Grid), over the period and per "
                             "calendar month.",
                       "zh-CN": "<b>PUE</b> = 设施总能耗 / IT 能耗（The Green Grid），按整个时段及自然月统计。"},
    "method.kpi_cooling": {
        "en": "<b>Cooling energy</b> = {components}; <b>non-IT energy</b> = facility − IT. Server fans count as IT, "
              "so warmer inlets cannot buy a better PUE for free.",
        "zh-CN": "<b>制冷能耗</b> = {components}；<b>非 IT 能耗</b> = 设施 − IT。服务器风扇计入 IT，因此提高进风温度"
                 "不能白白换来更好的 PUE。"},
    "method.kpi_wue": {"en": "<b>WUE</b> = site water (evaporation + drift + blowdown, L) / IT energy (kWh) (The "
                             "Green Grid).",
                       "zh-CN": "<b>WUE</b> = 现场用水（蒸发 + 飘水 + 排污，L）/ IT 能耗（kWh）（The Green Grid）。"},
    "method.kpi_carbon": {
        "en": "<b>Carbon</b> location-based = Σ energy × hourly grid factor (GHG Protocol Scope 2); after green power "
              "= × (1 − share).",
        "zh-CN": "<b>碳排放</b>（基于位置）= Σ 电量 × 逐时电网排放因子（GHG Protocol 范围二）；扣除绿电后 = × "
                 "（1 − 绿电占比）。"},
    "method.kpi_cost": {"en": "<b>Cost</b> = Σ energy × hourly price, plus water × water price when given.",
                        "zh-CN": "<b>费用</b> = Σ 电量 × 逐时电价，另加用水量 × 水价（如给出）。"},
    "method.kpi_thermal": {
        "en": "<b>Thermal risk</b>: degree-hours = Σ over steps and zones of the inlet's excess over the limit × "
              "hours; hours with any inlet above; hottest inlet. Any run above its limit is flagged and its saving "
              "is not valid.",
        "zh-CN": "<b>热风险</b>：度时 = 对所有步长与区域求和（进风温度超出限值的部分 × 小时数）；任一进风超限的小时数；"
                 "最高进风温度。任何超限运行都会被标记，其节能结果无效。"},
    "method.kpi_free": {"en": "<b>Free cooling</b>: hours with the economizer carrying load; full: and no chiller "
                              "running.",
                        "zh-CN": "<b>自然冷却</b>：板换承担负荷的小时数；完全自然冷却：同时无冷水机组运行。"},
    "method.kpi_changes": {
        "en": "<b>Setpoint changes</b> (actuator wear), over every setpoint of the facility, the plant's levers "
              "included: steps where an applied setpoint moves from the previous step by more than its deadband "
              "({deadbands}); the economizer enable counts changes between on and off. A setpoint a policy leaves "
              "to the plant counts the moves of the plant's own sequence.",
        "zh-CN": "<b>设定值调整次数</b>（执行器磨损），涵盖设施的全部设定值（含制冷站调节量）：实际设定值相对上一步"
                 "的变动超过其死区（{deadbands}）的步数；板换启用按开/关切换计数。策略未下发的设定值按制冷站自身控制"
                 "序列的变动计数。"},
    "method.kpi_starts": {
        "en": "<b>Chiller starts</b> (equipment wear): starts counted by the plant's sequencer, each after the "
              "chiller's minimum off time; per day over the period.",
        "zh-CN": "<b>冷水机组启动次数</b>（设备磨损）：由制冷站群控计数的启动次数，每次启动均在最短停机时间之后；"
                 "按时段内天数折算为每日次数。"},
    "method.kpi_peak": {
        "en": "<b>Peak facility power</b>: the highest 15-minute average of facility power (a sliding window, as "
              "most tariffs define peak demand).",
        "zh-CN": "<b>设施峰值功率</b>：设施功率 15 分钟滑动平均值的最大值（多数电价规则对需量的定义）。"},
    "method.kpi_share": {
        "en": "<b>Share of the oracle's saving</b> = (E<sub>baseline</sub> − E<sub>policy</sub>) / "
              "(E<sub>baseline</sub> − E<sub>oracle</sub>) of facility energy.",
        "zh-CN": "<b>占理想上限节能的比例</b> = (E<sub>基线</sub> − E<sub>策略</sub>) / (E<sub>基线</sub> − "
                 "E<sub>理想上限</sub>)，按设施能耗计。"},
    "method.kpi_liquid": {
        "en": "<b>Liquid cooling</b> (facilities with cold plates): the hottest GPU case against the cold plates' "
              "case limit (hours and K·h above it); GPU energy shed by throttling (lost compute); <b>trim hours</b> = "
              "hours the trim exchanger passes more than {threshold} kW of facility-water heat to the chilled-water "
              "plant; CDU pump, facility-water pump and dry-cooler fan energy (in facility energy and PUE).",
        "zh-CN": "<b>液冷</b>（配备冷板的设施）：GPU 最高壳温与冷板壳温限值对比（超限小时数与度时）；GPU 降频削减的电量"
                 "（损失算力）；<b>补冷小时数</b> = 补冷换热器向冷冻水系统转移的一次侧热量超过 {threshold} kW 的"
                 "小时数；CDU 水泵、一次侧水泵与干冷器风机能耗（计入设施能耗与 PUE）。"},
    "method.kpi_heat_reuse": {
        "en": "<b>Heat reuse</b> (facilities with a heat pump; The Green Grid, ISO/IEC 30134-6): the heat pump's "
              "electricity is outside facility energy and PUE, so ERF and ERE are taken over the <b>total energy</b> "
              "= facility + heat pump; reused = heat delivered to district heating. ERF = reused / total; ERE = "
              "(total − reused) / IT = (1 − ERF) × total / IT (PUE when the heat pump is off). COP = heat delivered / "
              "heat-pump electricity over the period. Net cost = electricity (facility + heat pump, energy and demand "
              "charge) + water − the heat sold at the facility's heat price; carbon avoided = reused heat × the "
              "displaced heat's factor (the facility's; a gas boiler by default); net carbon = location-based carbon "
              "of facility + heat pump − carbon avoided.",
        "zh-CN": "<b>余热回收</b>（配备热泵的设施；The Green Grid、ISO/IEC 30134-6）：热泵耗电不计入设施能耗与 PUE，"
                 "因此 ERF 与 ERE 按<b>总能耗</b> = 设施 + 热泵计算；回收量 = 供给区域供热的热量。ERF = 回收量 / "
                 "总能耗；ERE = (总能耗 − 回收量) / IT = (1 − ERF) × 总能耗 / IT（热泵停运时即为 PUE）。COP = 时段内"
                 "供热量 / 热泵耗电量。净费用 = 电费（设施 + 热泵，含电量电费与需量电费）+ 水费 − 按设施热价计算的"
                 "售热收入；减排量 = 回收热量 × 被替代热源的排放因子（取设施设定值，默认燃气锅炉）；净碳排放 = 设施 + "
                 "热泵的基于位置碳排放 − 减排量。"},
    "method.limits_title": {"en": "Known limits", "zh-CN": "已知局限"},
    "method.limits": {
        "en": "Humidity and latent loads are not modelled; chillers are identical and share load equally; chiller "
              "curves are clamped to their fitted ranges (no credit for unvalidated efficiency); tower evaporation "
              "uses a loss factor (≈1.7 L per kWh rejected), so WUE is on the high side in cold climates; outages "
              "last the whole period; a typical year is not a forecast of any particular year.",
        "zh-CN": "未模拟湿度与潜热负荷；各冷水机组相同且均分负荷；冷水机组曲线限制在拟合范围内（未经验证的效率不计收益"
                 "）；"
                 "冷却塔蒸发采用损失系数（每排热 1 kWh 约 1.7 L），因此寒冷气候下 WUE 偏高；设备停运持续整个时段；"
                 "典型年并非对任何具体年份的预测。"},
    # --- policy cards ---------------------------------------------------------------------------------------
    "cards.title": {"en": "Policies", "zh-CN": "策略"},
    "card.role_baseline": {"en": " (baseline: the site's current control)", "zh-CN": "（基线：站点现行控制）"},
    "card.role_proposed": {"en": " (proposed)", "zh-CN": "（拟采用）"},
    "card.legacy": {
        "en": "Fixed setpoints as many older sites run them: supply air 18 °C, CRAH fans 100 %, chilled water 7 °C, "
              "condenser water 29.4 °C.",
        "zh-CN": "许多老旧机房采用的固定设定值：送风 18 °C，精密空调风机 100%，冷冻水 7 °C，冷却水 29.4 °C。"},
    "card.rule-based": {
        "en": "Good industry practice (ASHRAE Guideline 36-style trim and respond): fans on demand, supply air reset "
              "to keep the hottest inlet 2 K under the limit, chilled water as warm as the coils allow, condenser "
              "water on wet bulb, economizer whenever it helps.",
        "zh-CN": "行业良好实践（ASHRAE Guideline 36 式的“削减与响应”）：风机按需运行，送风温度重设以使最高进风温度低于"
                 "限值 2 K，冷冻水温度在盘管允许范围内尽量提高，冷却水温度随湿球温度调整，凡有利时即投入自然冷却。"},
    "card.oracle": {
        "en": "Perfect-knowledge receding-horizon search on the simulator itself (true plant state, future weather "
              "and load): the best achievable found, not a deployable policy.",
        "zh-CN": "在模拟器本身上进行的全知滚动时域搜索（真实系统状态、未来天气与负载）：找到的最优可达水平，并非可部署"
                 "的策略。"},
    "card.recorded": {
        "en": "The site's own control: the setpoints its history recorded, replayed step by step through the "
              "facility on the recorded weather and IT load.",
        "zh-CN": "站点自身的控制：历史数据记录的设定值，在记录的天气与 IT 负载下逐步回放至该设施。"},
    "card.bundle": {"en": "bundle", "zh-CN": "策略包"},
    "card.sha256": {"en": "sha256 of policy.onnx", "zh-CN": "policy.onnx 的 sha256"},
    "card.facility": {"en": "trained for facility", "zh-CN": "训练所用设施"},
    "card.environment": {"en": "environment", "zh-CN": "环境"},
    "card.algorithm": {"en": "algorithm", "zh-CN": "算法"},
    "card.algorithm_value": {"en": "{algo} ({action} action)", "zh-CN": "{algo}（{action} 动作）"},
    "card.steps": {"en": "training steps", "zh-CN": "训练步数"},
    "card.seed": {"en": "seed", "zh-CN": "随机种子"},
    "card.climates": {"en": "training climates", "zh-CN": "训练气候"},
    "card.created": {"en": "created", "zh-CN": "创建时间"},
    "card.version": {"en": "coolpilot version", "zh-CN": "coolpilot 版本"},
    "card.parity": {"en": "export parity (max |SB3 − ONNX|)", "zh-CN": "导出一致性（最大 |SB3 − ONNX|）"},
    "card.setpoints": {"en": "setpoints it writes", "zh-CN": "下发的设定值"},
    "card.setpoints_value": {"en": "{names} (contract version {version})", "zh-CN": "{names}（接口版本 {version}）"},
    "card.heldout": {"en": "held-out evaluation at export", "zh-CN": "导出时的留出集评估"},
    "card.heldout_value": {
        "en": "{climates}: facility saving {facility} %, cooling saving {cooling} % vs {baseline}, {dh} K·h above "
              "27 °C",
        "zh-CN": "{climates}：相对 {baseline} 设施节能 {facility}%，制冷节能 {cooling}%，超过 27 °C 的度时 {dh} K·h"},
    "card.other_facility": {
        "en": "Trained for {facility}; some scenarios use another facility: its rule-based base and training ranges "
              "are that facility's.",
        "zh-CN": "该策略为 {facility} 训练；部分场景使用了其他设施：其规则控制基础与训练范围均来自 {facility}。"},
    # --- terminal summary -----------------------------------------------------------------------------------
    "cli.finished": {"en": "what-if finished: {title}", "zh-CN": "假设分析完成：{title}"},
    "cli.scenario": {
        "en": "  {name:<24} {proposed} vs {baseline}: {mwh} MWh ({pct}), {co2} t CO2e, {cost}; PUE {before} -> "
              "{after}; hottest inlet {inlet} °C",
        "zh-CN": "  {name:<24} {proposed} 对比 {baseline}：{mwh} MWh（{pct}），{co2} t CO2e，{cost}；PUE {before} -> "
                 "{after}；最高进风温度 {inlet} °C"},
    "cli.thermal": {"en": "  THERMAL RISK: {policy} in {scenario}: {dh} K·h above {limit} °C (hottest inlet {inlet} "
                          "°C)",
                    "zh-CN": "  热风险：{policy} 在 {scenario} 中超过 {limit} °C 的度时 {dh} K·h（最高进风温度 {inlet} "
                             "°C）"},
}
"""key -> language -> text (a ``str.format`` template; page texts may hold inline markup)."""


def format_number(value: float | None, digits: int = 1, sign: bool = False) -> str:
    """A number with ',' thousands groups and '.' decimals (en and zh-CN alike); '—' for missing or non-finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


def text_width_em(text: str) -> float:
    """Width of ``text`` in Latin character widths: East Asian wide characters count two (chart legend layout)."""
    return float(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text))


def check_language(lang: str) -> str:
    """``lang`` if the report speaks it, else a ValueError listing the languages."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


@dataclass(frozen=True)
class Translator:
    """Texts and number formats of one language."""

    lang: str

    def text(self, key: str, **args: Any) -> str:
        """The plain text of ``key`` with ``args`` filled in (for charts and the terminal; escape it where shown)."""
        return MESSAGES[key][self.lang].format(**args)

    def markup(self, key: str, **args: Any) -> Markup:
        """The text of ``key`` as page markup, every argument escaped (unless it is markup itself)."""
        return Markup(MESSAGES[key][self.lang]).format(**args)

    def num(self, value: float | None, digits: int = 1, sign: bool = False) -> str:
        """A number grouped by thousands; '—' for missing or non-finite values (the same in both locales)."""
        return format_number(value, digits, sign)

    def pct(self, value: float | None, digits: int = 1, sign: bool = False) -> str:
        """A percentage: '12.50 %' in English, '12.50%' in Chinese; '—' when missing."""
        text = self.num(value, digits, sign)
        if text == "—":
            return text
        return f"{text}%" if self.lang == "zh-CN" else f"{text} %"

    def currency(self, code: str) -> str:
        """A currency label: '元' for CNY in Chinese, else the code as the scenario wrote it."""
        return "元" if self.lang == "zh-CN" and code.upper() in ("CNY", "RMB") else code

    def money(self, value: float | None, currency: str, sign: bool = False) -> str:
        """A whole amount and its currency; '—' when missing."""
        if value is None:
            return "—"
        return f"{self.num(value, 0, sign)} {self.currency(currency)}"

    def month(self, index: int) -> str:
        """Short name of month ``index`` (0 = January)."""
        return self.text(f"month.{index + 1}")

    def component(self, name: str) -> str:
        """The label of an energy component (``coolpilot.envs.kpis`` names); a component the catalogue does not
        know yet keeps its English label (the Chinese report test then names it)."""
        key = f"component.{name}"
        if key in MESSAGES:
            return self.text(key)
        from coolpilot.envs.kpis import COMPONENT_LABELS

        return COMPONENT_LABELS.get(name, name)

    def setpoint(self, name: str) -> str:
        """A setpoint's name in words, or its contract name when the catalogue has none (a newer lever)."""
        key = f"setpoint.{name}"
        return self.text(key) if key in MESSAGES else name

    def action(self, mode: str) -> str:
        """A bundle's action mode (residual, absolute) in words."""
        key = f"action.{mode}"
        return self.text(key) if key in MESSAGES else mode

    def period(self, name: str) -> str:
        """A named period (year, a season, a month) in words."""
        return self.text(f"period.{name}")


def translator(lang: str = DEFAULT_LANGUAGE) -> Translator:
    """The translator of ``lang`` (``en`` or ``zh-CN``)."""
    return Translator(check_language(lang))


__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "MESSAGES", "Translator", "check_language", "format_number",
           "text_width_em", "translator"]
