/*
 * The coolpilot operator console (served by the controller service at /console).
 *
 * Plain JavaScript, no build step, no framework, no request to any other origin: the page
 * reads the service's open JSON endpoints (api/v1/status, api/v1/console, api/v1/trends) by
 * polling at the control period (the service's poll_s: the period within 0.25..10 s; see
 * coolpilot.controller.console), draws its plots as inline SVG with the small code below, and
 * acts only through the token-protected endpoints (api/v1/mode, api/v1/override).
 *
 * The API token is typed into the page and kept in the variable `token` below, nowhere else:
 * never a cookie, never localStorage or sessionStorage. Without it the page is read-only.
 *
 * Every string the page shows is in MESSAGES, keyed by message id, one table per language
 * with the same ids ("en", and "zh-CN" in the field's Simplified Chinese terms, as the what-if
 * report's catalogue coolpilot.evaluation.i18n uses them); `?lang=zh-CN` or the switch in the
 * header picks one, else the browser's languages. Reason meanings come from the service.
 */
"use strict";

(() => {
  // ---- UI strings ----------------------------------------------------------------------
  const MESSAGES = {
    en: {
      "app.title": "coolpilot console",
      "nav.skipToActions": "Skip to actions",
      "lang.label": "Language:",
      "live.ok": "LIVE: updated {time} (polled every {poll})",
      "live.waiting": "Connecting to the service…",
      "live.stale": "STALE: last answer {time}",
      "stale.prefix": "STALE:",
      "title.stale": "STALE",
      "stale.noAnswer": "the service does not answer ({error}); last answer {time}.",
      "stale.noDecision": "no control cycle has completed yet.",
      "stale.oldDecision": "no control cycle for more than two periods ({limit}); the last decision was at {time}.",
      "stale.points": "plant data stale: {n} of {total} points older than {after} (the plant stopped sending).",
      "stale.missing": "plant data missing: {n} of {total} points not received.",
      "stale.plant": "the plant cannot be read (adapter not connected).",
      "access.viewer": "viewer: read-only (enter the API token under Actions to act)",
      "access.operator": "operator: token held in this tab's memory only",
      "state.heading": "State",
      "mode.heading": "Mode",
      "mode.quickFallback": "Fall back…",
      "mode.meaning.shadow": "Decides and records every cycle; never writes to the plant.",
      "mode.meaning.active": "Writes its setpoints to the plant through the safety envelope.",
      "mode.meaning.fallback": "Control handed to the site: relinquished to the BMS, or safe setpoints written.",
      "mode.meaning.off": "Records only that it is off; decides nothing.",
      "mode.since": "Since",
      "mode.setBy": "Set by",
      "mode.why": "Why",
      "mode.fromSite": "the site file (no change recorded)",
      "model.heading": "Model",
      "model.healthy": "Healthy",
      "model.unhealthy": "UNHEALTHY: {detail}",
      "model.none": "No model: the fallback policy decides",
      "model.name": "Name",
      "model.sha": "sha256",
      "model.created": "Created",
      "model.training": "Trained",
      "model.trainingValue": "{algo}, {steps} steps, seed {seed}, climates: {climates}",
      "model.evaluation": "Card estimate",
      "model.evaluationValue": "in simulation vs {baseline}: facility energy {facility} %, cooling energy {cooling} %, PUE {pue} vs {basePue} ({climates})",
      "model.facility": "Facility",
      "model.action": "Acts as",
      "model.timeouts": "Inference timeouts",
      "model.timeoutsValue": "{row} in a row, {total} since loaded; unhealthy after {after}",
      "plant.heading": "Plant and service",
      "plant.reachable": "Plant reachable",
      "plant.unreachable": "PLANT NOT REACHABLE",
      "plant.cycle": "Cycle",
      "plant.lastDecision": "Last decision",
      "plant.ago": "{time} ({age} ago)",
      "plant.sensors": "Sensors",
      "plant.sensorsOk": "all points valid",
      "plant.sensorsBad": "PROBLEMS: see the last decision",
      "plant.period": "Control period",
      "plant.limits": "Inlet guard / limit",
      "plant.limitsValue": "{guard} °C / {limit} °C",
      "plant.hung": "Hung inference threads",
      "plant.run": "Service run",
      "plant.startedAt": "started {time}",
      "energy.heading": "Energy today",
      "energy.window": "Since 00:00 {tz} (the service's clock), {hours} recorded in {n} cycles.",
      "energy.facility_power_kw": "Facility",
      "energy.cooling_power_kw": "Cooling",
      "energy.it_power_kw": "IT",
      "energy.pue": "PUE (metered)",
      "energy.notMetered": "not metered",
      "energy.metered": "{hours} metered",
      "energy.byMode": "By mode: {list}.",
      "energy.modeItem": "{mode} {hours}, facility {kwh}",
      "energy.none": "No cycle recorded today.",
      "energy.counterfactual": "Rule-based counterfactual: not computed. The service runs no plant model, so the energy the rule-based control would have used today is not known; only what the meters recorded is shown.",
      "energy.cardEstimate": "The model card estimates {pct} % less facility energy than {baseline} control in simulation ({climates}); that is a simulation result, not a measurement of this site.",
      "decision.heading": "Last decision",
      "decision.none": "No decision yet.",
      "decision.meta": "Cycle {cycle} at {time} ({age} ago): mode {mode}, setpoints from {source}, {written}, {latency} ms.",
      "decision.wrote": "written to the plant",
      "decision.notWritten": "nothing written",
      "decision.outputError": "Policy output: {text}",
      "decision.writeError": "Write refused for {name}: {error}",
      "decision.setpoints": "Setpoints",
      "decision.interventions": "Interventions of the safety envelope",
      "decision.noInterventions": "None: the proposal passed every rule unchanged.",
      "decision.points": "Points read",
      "written.shadow": "not written (shadow)",
      "written.off": "not written (off)",
      "written.relinquished": "relinquished to the BMS",
      "written.notWritten": "not written",
      "written.notCommanded": "not commanded: the plant's own sequence",
      "col.setpoint": "Setpoint",
      "col.unit": "Unit",
      "col.siteBounds": "Site bounds",
      "col.proposed": "Policy proposed",
      "col.envelope": "After the envelope",
      "col.written": "Written",
      "col.override": "Override",
      "col.point": "Point",
      "col.value": "Value",
      "col.trainingRange": "Training range",
      "col.check": "Check",
      "col.timeLeft": "Time left",
      "col.until": "Until",
      "col.who": "Who",
      "col.why": "Why",
      "col.action": "Action",
      "check.ok": "ok",
      "check.outside": "OUTSIDE TRAINING RANGE",
      "check.noRange": "no training range",
      "check.missing": "missing",
      "check.notRead": "not read by the service",
      "check.reason": "{reason}",
      "value.none": "—",
      "value.never": "never",
      "unit.one": "ratio",
      "trends.heading": "Trends",
      "trends.window": "Window:",
      "trends.h1": "1 h",
      "trends.h6": "6 h",
      "trends.h24": "24 h",
      "trends.h168": "7 d",
      "trends.note": "Last {hours} h in buckets of {bucket}: hottest inlet is each bucket's maximum, the others its mean; written is the last value written in the bucket. {marks} interventions marked ▲ at the bottom{left}.",
      "trends.left": " ({n} older ones not marked)",
      "trends.empty": "No decisions recorded in this window.",
      "chart.inlet": "Server inlet temperature (°C)",
      "chart.facility": "Facility power (kW)",
      "chart.cooling": "Cooling power (kW)",
      "chart.setpoint": "{name} ({unit})",
      "series.hottest": "hottest inlet (max)",
      "series.mean": "mean inlet",
      "series.guard": "guard {value} °C",
      "series.limit": "limit {value} °C",
      "series.facility": "facility power",
      "series.cooling": "cooling power",
      "series.proposed": "proposed by the policy",
      "series.written": "written to the plant",
      "series.marks": "interventions",
      "chart.summary": "{title}: {items}.",
      "chart.summaryItem": "{label} last {value}",
      "chart.noData": "no data",
      "overrides.heading": "Active overrides",
      "overrides.none": "No override is active.",
      "overrides.expiring": "expiring (dropped at the next cycle)",
      "overrides.clear": "Clear…",
      "overrides.clearLabel": "Clear the override of {name}",
      "drift.heading": "Drift monitor",
      "history.heading": "Recent operator actions",
      "history.none": "No operator action recorded.",
      "history.mode": "{time}: {who} changed the mode {old} → {new}. Why: {why}",
      "history.set": "{time}: {who} set override {name} = {value} until {until}. Why: {why}",
      "history.clear": "{time}: {who} cleared the override of {name}. Why: {why}",
      "history.nobody": "(not given)",
      "actions.heading": "Actions",
      "token.label": "API token",
      "token.use": "Use token",
      "token.forget": "Forget token",
      "token.note": "Kept in this tab's memory only (never a cookie or browser storage); closing the tab forgets it. Without it the page is read-only.",
      "token.set": "Token held for this tab. The service checks it on each action.",
      "token.forgotten": "Token forgotten: read-only.",
      "form.who": "Who (name)",
      "form.why": "Why",
      "modeForm.legend": "Change mode",
      "modeForm.mode": "New mode",
      "modeForm.submit": "Change mode",
      "overrideForm.legend": "Override a setpoint",
      "overrideForm.setpoint": "Setpoint",
      "overrideForm.value": "Value",
      "overrideForm.minutes": "For (minutes)",
      "overrideForm.set": "Set override",
      "overrideForm.clear": "Clear override",
      "overrideForm.hint": "{unit}: {low} to {high}. The safety envelope still bounds what is written (site bounds {siteLow} to {siteHigh}, rate limits, thermal guard).",
      "result.mode": "Mode changed: {old} → {new}.",
      "result.set": "Override set: {name} = {value} until {until}.",
      "result.cleared": "Override of {name} cleared.",
      "result.noOverride": "There is no override on {name}.",
      "result.unauthorized": "Refused (401): the service does not accept this token. Enter the right one.",
      "result.forbidden": "Refused (403): this service has no API token configured, so it takes no actions.",
      "result.invalid": "Refused (422): {detail}",
      "result.conflict": "Refused (409): {detail}",
      "result.other": "Refused ({status}): {detail}",
      "result.noAnswer": "No answer from the service: {error}. Nothing may have changed; check the state above.",
      "result.noValue": "Enter a value to hold.",
      "error.timeout": "no answer within {s} s",
      "error.http": "HTTP {status}",
    },
    "zh-CN": {
      "app.title": "coolpilot 控制台",
      "nav.skipToActions": "跳到操作",
      "lang.label": "语言：",
      "live.ok": "实时：更新于 {time}（每 {poll} 查询一次）",
      "live.waiting": "正在连接服务…",
      "live.stale": "数据过时：最后应答 {time}",
      "stale.prefix": "数据过时：",
      "title.stale": "数据过时",
      "stale.noAnswer": "服务无应答（{error}）；最后应答 {time}。",
      "stale.noDecision": "尚未完成任何控制周期。",
      "stale.oldDecision": "超过两个周期（{limit}）没有控制周期；最后一次决策在 {time}。",
      "stale.points": "现场数据过时：{total} 个测点中有 {n} 个早于 {after}（现场已停止发送）。",
      "stale.missing": "现场数据缺失：{total} 个测点中有 {n} 个未收到。",
      "stale.plant": "无法读取现场（适配器未连接）。",
      "access.viewer": "查看者：只读（在“操作”中输入 API 令牌后方可操作）",
      "access.operator": "操作员：令牌仅保存在本标签页的内存中",
      "state.heading": "状态",
      "mode.heading": "运行模式",
      "mode.quickFallback": "回退…",
      "mode.meaning.shadow": "每个周期都决策并记录，但从不写入现场。",
      "mode.meaning.active": "经安全包络把设定值写入现场。",
      "mode.meaning.fallback": "控制权交还现场：释放给楼宇自控系统（BMS），或写入安全设定值。",
      "mode.meaning.off": "只记录已关闭；不做任何决策。",
      "mode.since": "起始时间",
      "mode.setBy": "设置人",
      "mode.why": "原因",
      "mode.fromSite": "站点文件（无变更记录）",
      "model.heading": "模型",
      "model.healthy": "正常",
      "model.unhealthy": "异常：{detail}",
      "model.none": "无模型：由回退策略决策",
      "model.name": "名称",
      "model.sha": "sha256",
      "model.created": "创建时间",
      "model.training": "训练",
      "model.trainingValue": "{algo}，{steps} 步，随机种子 {seed}，气候：{climates}",
      "model.evaluation": "模型卡估计",
      "model.evaluationValue": "模拟中相对 {baseline}：设施能耗 {facility} %，制冷能耗 {cooling} %，PUE {pue}（基线 {basePue}）（{climates}）",
      "model.facility": "设施",
      "model.action": "控制对象",
      "model.timeouts": "推理超时",
      "model.timeoutsValue": "连续 {row} 次，载入以来共 {total} 次；连续 {after} 次即判为异常",
      "plant.heading": "现场与服务",
      "plant.reachable": "现场可达",
      "plant.unreachable": "现场不可达",
      "plant.cycle": "周期",
      "plant.lastDecision": "最后一次决策",
      "plant.ago": "{time}（{age} 前）",
      "plant.sensors": "传感器",
      "plant.sensorsOk": "所有测点有效",
      "plant.sensorsBad": "有问题：见最后一次决策",
      "plant.period": "控制周期",
      "plant.limits": "进风温度保护值 / 限值",
      "plant.limitsValue": "{guard} °C / {limit} °C",
      "plant.hung": "挂起的推理线程",
      "plant.run": "服务运行",
      "plant.startedAt": "启动于 {time}",
      "energy.heading": "今日能耗",
      "energy.window": "自 00:00（{tz}，以服务时钟为准）起，{n} 个周期共记录 {hours}。",
      "energy.facility_power_kw": "设施",
      "energy.cooling_power_kw": "制冷",
      "energy.it_power_kw": "IT",
      "energy.pue": "PUE（实测）",
      "energy.notMetered": "无电表",
      "energy.metered": "电表记录 {hours}",
      "energy.byMode": "按模式：{list}。",
      "energy.modeItem": "{mode} {hours}，设施 {kwh}",
      "energy.none": "今日尚无周期记录。",
      "energy.counterfactual": "规则控制的反事实能耗：未计算。本服务不运行现场模型，无法得知今天若采用规则控制会用多少能耗；这里只显示电表记录的数据。",
      "energy.cardEstimate": "模型卡在模拟中估计设施能耗比 {baseline} 控制低 {pct} %（{climates}）；这是模拟结果，不是本站点的实测值。",
      "decision.heading": "最后一次决策",
      "decision.none": "尚无决策。",
      "decision.meta": "周期 {cycle}，{time}（{age} 前）：模式 {mode}，设定值来自 {source}，{written}，耗时 {latency} ms。",
      "decision.wrote": "已写入现场",
      "decision.notWritten": "未写入",
      "decision.outputError": "策略输出：{text}",
      "decision.writeError": "{name} 写入被拒绝：{error}",
      "decision.setpoints": "设定值",
      "decision.interventions": "安全包络的干预",
      "decision.noInterventions": "无：策略的建议原样通过了所有规则。",
      "decision.points": "读取的测点",
      "written.shadow": "未写入（影子模式）",
      "written.off": "未写入（已关闭）",
      "written.relinquished": "已释放给楼宇自控系统",
      "written.notWritten": "未写入",
      "written.notCommanded": "不下发：由现场自身的控制程序控制",
      "col.setpoint": "设定值",
      "col.unit": "单位",
      "col.siteBounds": "站点上下限",
      "col.proposed": "策略建议",
      "col.envelope": "经安全包络后",
      "col.written": "已写入",
      "col.override": "人工覆盖",
      "col.point": "测点",
      "col.value": "数值",
      "col.trainingRange": "训练范围",
      "col.check": "检查",
      "col.timeLeft": "剩余时间",
      "col.until": "截止",
      "col.who": "操作人",
      "col.why": "原因",
      "col.action": "操作",
      "check.ok": "正常",
      "check.outside": "超出训练范围",
      "check.noRange": "无训练范围",
      "check.missing": "缺失",
      "check.notRead": "服务未读取",
      "check.reason": "{reason}",
      "value.none": "—",
      "value.never": "从未",
      "unit.one": "比例",
      "trends.heading": "趋势",
      "trends.window": "时间窗：",
      "trends.h1": "1 小时",
      "trends.h6": "6 小时",
      "trends.h24": "24 小时",
      "trends.h168": "7 天",
      "trends.note": "最近 {hours} 小时，每 {bucket} 一个区间：最热进风温度取区间最大值，其余取平均值；已写入值取区间内最后一次写入的值。底部 ▲ 标出 {marks} 次干预{left}。",
      "trends.left": "（另有 {n} 次较早的未标出）",
      "trends.empty": "此时间窗内没有决策记录。",
      "chart.inlet": "服务器进风温度（°C）",
      "chart.facility": "设施功率（kW）",
      "chart.cooling": "制冷功率（kW）",
      "chart.setpoint": "{name}（{unit}）",
      "series.hottest": "最热进风温度（最大值）",
      "series.mean": "平均进风温度",
      "series.guard": "保护值 {value} °C",
      "series.limit": "限值 {value} °C",
      "series.facility": "设施功率",
      "series.cooling": "制冷功率",
      "series.proposed": "策略建议值",
      "series.written": "写入现场的值",
      "series.marks": "干预",
      "chart.summary": "{title}：{items}。",
      "chart.summaryItem": "{label} 最新值 {value}",
      "chart.noData": "无数据",
      "overrides.heading": "生效中的人工覆盖",
      "overrides.none": "当前没有人工覆盖。",
      "overrides.expiring": "即将失效（下一周期撤除）",
      "overrides.clear": "清除…",
      "overrides.clearLabel": "清除 {name} 的人工覆盖",
      "drift.heading": "漂移监测",
      "history.heading": "最近的操作员操作",
      "history.none": "没有操作员操作记录。",
      "history.mode": "{time}：{who} 将模式由 {old} 改为 {new}。原因：{why}",
      "history.set": "{time}：{who} 设置人工覆盖 {name} = {value}，截止 {until}。原因：{why}",
      "history.clear": "{time}：{who} 清除了 {name} 的人工覆盖。原因：{why}",
      "history.nobody": "（未填写）",
      "actions.heading": "操作",
      "token.label": "API 令牌",
      "token.use": "使用令牌",
      "token.forget": "清除令牌",
      "token.note": "仅保存在本标签页的内存中（不写入 Cookie 或浏览器存储）；关闭标签页即清除。没有令牌时页面为只读。",
      "token.set": "本标签页已持有令牌。服务会在每次操作时校验。",
      "token.forgotten": "令牌已清除：只读。",
      "form.who": "操作人（姓名）",
      "form.why": "原因",
      "modeForm.legend": "切换模式",
      "modeForm.mode": "新模式",
      "modeForm.submit": "切换模式",
      "overrideForm.legend": "人工覆盖设定值",
      "overrideForm.setpoint": "设定值",
      "overrideForm.value": "数值",
      "overrideForm.minutes": "持续（分钟）",
      "overrideForm.set": "设置人工覆盖",
      "overrideForm.clear": "清除人工覆盖",
      "overrideForm.hint": "{unit}：{low} 至 {high}。写入值仍受安全包络约束（站点上下限 {siteLow} 至 {siteHigh}、变化速率限制、热保护）。",
      "result.mode": "模式已切换：{old} → {new}。",
      "result.set": "已设置人工覆盖：{name} = {value}，截止 {until}。",
      "result.cleared": "已清除 {name} 的人工覆盖。",
      "result.noOverride": "{name} 没有人工覆盖。",
      "result.unauthorized": "被拒绝（401）：服务不接受此令牌。请输入正确的令牌。",
      "result.forbidden": "被拒绝（403）：本服务未配置 API 令牌，因此不接受任何操作。",
      "result.invalid": "被拒绝（422）：{detail}",
      "result.conflict": "被拒绝（409）：{detail}",
      "result.other": "被拒绝（{status}）：{detail}",
      "result.noAnswer": "服务无应答：{error}。可能没有任何改变；请查看上方状态。",
      "result.noValue": "请输入要保持的数值。",
      "error.timeout": "{s} 秒内无应答",
      "error.http": "HTTP {status}",
    },
  };

  /**
   * The language: `?lang=` in the page's address (the switch in the header sets it), else the
   * browser's preferred languages, else English. A tag matches a table by its full name
   * (case-insensitive) or by its primary language ("zh", "zh-Hans", "zh-SG" read Simplified Chinese).
   */
  function pickLanguage(tags) {
    const tables = Object.keys(MESSAGES);
    for (const tag of tags) {
      const wanted = String(tag).toLowerCase();
      const exact = tables.find((l) => l.toLowerCase() === wanted);
      if (exact) return exact;
      const primary = tables.find((l) => l.toLowerCase().split("-")[0] === wanted.split("-")[0]);
      if (primary) return primary;
    }
    return "en";
  }
  const asked = new URLSearchParams(window.location.search).get("lang");
  const LANG = pickLanguage([...(asked ? [asked] : []), ...(navigator.languages || [navigator.language || "en"])]);

  /** The UI string `id` with `{name}` placeholders filled from `params`. */
  function t(id, params) {
    const text = (MESSAGES[LANG] && MESSAGES[LANG][id]) ?? MESSAGES.en[id];
    if (text === undefined) return `⟦${id}⟧`;
    return text.replace(/\{(\w+)\}/g, (m, k) => (params && k in params ? String(params[k]) : m));
  }

  // ---- formatting ----------------------------------------------------------------------
  const numberFormats = new Map();
  function fmtNumber(v, digits) {
    if (v === null || v === undefined || !Number.isFinite(v)) return t("value.none");
    const a = Math.abs(v);
    const d = digits ?? (a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : 3);
    if (!numberFormats.has(d)) numberFormats.set(d, new Intl.NumberFormat(LANG, { maximumFractionDigits: d }));
    return numberFormats.get(d).format(v);
  }
  const unitShown = (unit) => (unit === "1" ? "" : unit);
  const unitColumn = (unit) => (unit === "1" ? t("unit.one") : unit);
  const withUnit = (v, unit) => `${fmtNumber(v)} ${unitShown(unit)}`.trim();
  function fmtClock(s) {
    const d = new Date(s * 1000);
    const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    if (Math.abs(Date.now() - d.getTime()) > 20 * 3600 * 1000) Object.assign(opts, { month: "short", day: "numeric" });
    return d.toLocaleString(LANG, opts);
  }
  function fmtDuration(s) {
    if (!Number.isFinite(s)) return t("value.none");
    const a = Math.max(0, s);
    if (a < 10) return `${fmtNumber(a, 1)} s`;
    if (a < 120) return `${Math.round(a)} s`;
    if (a < 7200) return `${Math.floor(a / 60)} min ${String(Math.round(a % 60)).padStart(2, "0")} s`;
    if (a < 2 * 86400) return `${Math.floor(a / 3600)} h ${String(Math.floor((a % 3600) / 60)).padStart(2, "0")} min`;
    return `${fmtNumber(a / 86400, 1)} d`;
  }
  const fmtHours = (h) => fmtDuration(h * 3600);

  // ---- DOM helpers (text only: nothing the service sends is ever parsed as HTML) ----------
  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  const SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function facts(dl, rows) {
    dl.replaceChildren(...rows.flatMap(([term, value, cls]) => [el("dt", { text: term }),
      el("dd", { text: value, class: cls || null })]));
  }
  function setText(id, text, cls) {
    const e = $(id);
    e.textContent = text;
    if (cls !== undefined) e.className = cls;
  }

  // ---- state ---------------------------------------------------------------------------
  let token = null; // the API token: this variable only, for the life of the tab
  const state = {
    status: null, info: null, trends: null, trendsKey: null, hours: 24,
    lastAnswerS: null, failure: null, pollMs: 1000, timer: null, polling: false, again: false,
    contractKey: null, drawn: { trends: null, contract: null },
  };

  class HttpError extends Error {
    constructor(status, detail) {
      super(t("error.http", { status }));
      this.status = status;
      this.detail = detail;
    }
  }

  /** What the service commands (its status's contract, where reported): name sets, or null for everything. */
  function commanded(status) {
    const c = status.contract;
    return c ? { points: new Set(c.commanded_points), setpoints: new Set(c.commanded_setpoints) }
      : { points: null, setpoints: null };
  }
  const isIn = (set, name) => set === null || set.has(name);

  const requestTimeoutMs = () => Math.max(3000, 2 * state.pollMs);

  async function request(path, options) {
    const ctl = new AbortController();
    const timeoutMs = requestTimeoutMs();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      const response = await fetch(path, { cache: "no-store", ...options, signal: ctl.signal });
      const text = await response.text();
      let body = null;
      try { body = text ? JSON.parse(text) : null; } catch { body = text; }
      if (!response.ok) throw new HttpError(response.status, body && body.detail !== undefined ? body.detail : body);
      return body;
    } catch (err) {
      if (err.name === "AbortError") throw new Error(t("error.timeout", { s: timeoutMs / 1000 }));
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- polling -------------------------------------------------------------------------
  async function poll() {
    if (state.polling) { state.again = true; return; }
    state.polling = true;
    clearTimeout(state.timer);
    try {
      const [status, info] = await Promise.all([request("api/v1/status"), request("api/v1/console")]);
      const key = `${state.hours}|${status.run_id}|${status.cycle}`;
      let trends = state.trends;
      if (key !== state.trendsKey) {
        trends = await request(`api/v1/trends?hours=${state.hours}`);
        state.trendsKey = key;
      }
      Object.assign(state, { status, info, trends, failure: null, lastAnswerS: Date.now() / 1000,
        pollMs: info.poll_s * 1000 });
      render();
    } catch (err) {
      state.failure = err;
      renderLive();
    } finally {
      state.polling = false;
      if (state.again) { state.again = false; setTimeout(poll, 0); } else state.timer = setTimeout(poll, state.pollMs);
    }
  }

  // ---- rendering -----------------------------------------------------------------------
  function render() {
    const { status, info } = state;
    setText("site-name", info.site);
    syncForms(status, info);
    renderLive();
    renderMode(status, info);
    renderModel(status, info);
    renderPlant(status, info);
    renderEnergy(info);
    renderDecision(status, info);
    renderTrends(info);
    renderOverrides(status, info);
    renderDrift(status);
    renderHistory(info);
  }

  function staleReasons() {
    if (state.failure) {
      const last = state.lastAnswerS ? fmtClock(state.lastAnswerS) : t("value.never");
      return [t("stale.noAnswer", { error: state.failure.message, time: last })];
    }
    const { status, info } = state;
    if (!status || !info) return [];
    const out = [];
    const last = status.last_decision;
    if (!last) out.push(t("stale.noDecision"));
    else {
      const age = info.now_s - last.time_s;
      if (age > info.decision_stale_after_s) {
        out.push(t("stale.oldDecision", { time: fmtClock(last.time_s), limit: fmtDuration(info.decision_stale_after_s) }));
      }
      const stale = new Set(), missing = new Set();
      for (const i of last.interventions) {
        if (i.reason === "sensor_stale") stale.add(i.target);
        if (i.reason === "sensor_missing") missing.add(i.target);
      }
      const read = commanded(status).points;
      const total = read === null ? info.contract.points.length : read.size;
      if (stale.size) out.push(t("stale.points", { n: stale.size, total, after: fmtDuration(info.limits.stale_after_s) }));
      if (missing.size) out.push(t("stale.missing", { n: missing.size, total }));
    }
    if (!status.connected) out.push(t("stale.plant"));
    return out;
  }

  function renderLive() {
    const reasons = staleReasons();
    const banner = $("stale");
    const text = reasons.length ? `${t("stale.prefix")} ${reasons.join(" ")}` : "";
    if (banner.textContent !== text) banner.textContent = text;
    banner.hidden = !reasons.length;
    document.body.classList.toggle("is-stale", reasons.length > 0);
    const title = `${reasons.length ? `${t("title.stale")} · ` : ""}${t("app.title")}${state.info ? ` · ${state.info.site}` : ""}`;
    if (document.title !== title) document.title = title;
    if (state.lastAnswerS === null && !state.failure) setText("live", t("live.waiting"), "live");
    else if (reasons.length) setText("live", t("live.stale", { time: state.lastAnswerS ? fmtClock(state.lastAnswerS) : t("value.never") }), "live bad");
    else setText("live", t("live.ok", { time: fmtClock(state.lastAnswerS), poll: fmtDuration(state.pollMs / 1000) }), "live good");
  }

  function renderMode(status, info) {
    setText("mode-value", status.mode.toUpperCase(), `big mode mode-${status.mode}`);
    setText("mode-meaning", t(`mode.meaning.${status.mode}`));
    const m = info.mode;
    facts($("mode-facts"), [
      [t("mode.since"), t("plant.ago", { time: fmtClock(m.since_s), age: fmtDuration(info.now_s - m.since_s) })],
      [t("mode.setBy"), m.recorded ? (m.who || t("history.nobody")) : t("mode.fromSite")],
      [t("mode.why"), m.recorded ? (m.why || t("history.nobody")) : t("value.none")],
    ]);
  }

  function renderModel(status, info) {
    const card = info.model;
    const health = status.model_health;
    if (!card) {
      setText("model-health", t("model.none"), "big warn");
      facts($("model-facts"), []);
      return;
    }
    if (health.healthy) setText("model-health", t("model.healthy"), "big good");
    else setText("model-health", t("model.unhealthy", { detail: health.detail }), "big bad");
    const rows = [
      [t("model.name"), card.name],
      [t("model.sha"), card.sha256.slice(0, 12)],
      [t("model.created"), card.created_at || t("value.none")],
      [t("model.facility"), `${card.facility || t("value.none")} (${card.env_id || t("value.none")})`],
      [t("model.training"), t("model.trainingValue", {
        algo: card.algo || t("value.none"), steps: fmtNumber(card.timesteps, 0), seed: card.seed ?? t("value.none"),
        climates: (card.training_climates || []).join(", ") || t("value.none") })],
      [t("model.action"), card.action_mode || t("value.none")],
      [t("model.timeouts"), t("model.timeoutsValue", { row: health.consecutive_timeouts, total: health.timeouts_total,
        after: health.unhealthy_after })],
    ];
    if (card.baseline && card.facility_saving_pct !== null) {
      rows.push([t("model.evaluation"), t("model.evaluationValue", {
        baseline: card.baseline, facility: fmtNumber(-card.facility_saving_pct, 2),
        cooling: fmtNumber(card.cooling_saving_pct === null ? null : -card.cooling_saving_pct, 2),
        pue: fmtNumber(card.pue, 3), basePue: fmtNumber(card.baseline_pue, 3),
        climates: (card.evaluation_climates || []).join(", ") })]);
    }
    facts($("model-facts"), rows);
    $("model-facts").querySelectorAll("dd")[1].title = card.sha256;
  }

  function renderPlant(status, info) {
    if (status.connected) setText("plant-health", t("plant.reachable"), "big good");
    else setText("plant-health", t("plant.unreachable"), "big bad");
    const last = status.last_decision;
    facts($("plant-facts"), [
      [t("plant.cycle"), String(status.cycle)],
      [t("plant.lastDecision"), last ? t("plant.ago", { time: fmtClock(last.time_s), age: fmtDuration(info.now_s - last.time_s) }) : t("value.none")],
      [t("plant.sensors"), last && last.sensors_ok === false ? t("plant.sensorsBad") : t("plant.sensorsOk"),
        last && last.sensors_ok === false ? "bad" : null],
      [t("plant.period"), fmtDuration(info.period_s)],
      [t("plant.limits"), t("plant.limitsValue", { guard: fmtNumber(info.limits.guard_c), limit: fmtNumber(info.limits.limit_c) })],
      [t("plant.hung"), String(status.model_health.hung_workers)],
      [t("plant.run"), t("plant.startedAt", { time: fmtClock(info.started_s) })],
    ]);
  }

  function renderEnergy(info) {
    const e = info.energy_today;
    const body = $("energy-body");
    if (!e.total.decisions) {
      body.replaceChildren(el("p", { class: "muted", text: t("energy.none") }));
    } else {
      const items = Object.entries(e.total.kwh).map(([name, kwh]) => el("div", { class: "figure" },
        el("span", { class: "label", text: t(`energy.${name}`) }),
        el("span", { class: "value", text: kwh === null ? t("energy.notMetered") : `${fmtNumber(kwh, 0)} kWh` }),
        el("span", { class: "sub", text: t("energy.metered", { hours: fmtHours(e.total.metered_h[name] || 0) }) })));
      const fac = e.total.kwh.facility_power_kw, it = e.total.kwh.it_power_kw;
      const sameHours = fac && it && Math.abs(e.total.metered_h.facility_power_kw - e.total.metered_h.it_power_kw) < 0.01 * e.total.hours;
      if (sameHours && it > 0) {
        items.push(el("div", { class: "figure" }, el("span", { class: "label", text: t("energy.pue") }),
          el("span", { class: "value", text: fmtNumber(fac / it, 3) }), el("span", { class: "sub", text: "" })));
      }
      const modes = Object.entries(e.by_mode).map(([mode, f]) => t("energy.modeItem", {
        mode, hours: fmtHours(f.hours),
        kwh: f.kwh.facility_power_kw === null || f.kwh.facility_power_kw === undefined ? t("energy.notMetered") : `${fmtNumber(f.kwh.facility_power_kw, 0)} kWh` }));
      body.replaceChildren(
        el("p", { text: t("energy.window", { tz: e.timezone, hours: fmtHours(e.total.hours), n: e.total.decisions }) }),
        el("div", { class: "figures" }, ...items),
        el("p", { text: t("energy.byMode", { list: modes.join("; ") }) }));
    }
    const card = info.model;
    let text = t("energy.counterfactual");
    if (card && card.facility_saving_pct !== null && card.baseline) {
      text += ` ${t("energy.cardEstimate", { pct: fmtNumber(card.facility_saving_pct, 2), baseline: card.baseline,
        climates: (card.evaluation_climates || []).join(", ") })}`;
    }
    setText("energy-counterfactual", text);
  }

  function writtenText(last, name) {
    if (last.wrote && last.setpoints) {
      const err = last.write_errors[name];
      return err ? t("decision.writeError", { name, error: err }) : null;
    }
    if (last.mode === "shadow") return t("written.shadow");
    if (last.mode === "off") return t("written.off");
    if (!last.setpoints) return t("written.relinquished");
    return t("written.notWritten");
  }

  function renderDecision(status, info) {
    const last = status.last_decision;
    const spBody = $("setpoint-table").tBodies[0], ptBody = $("point-table").tBodies[0];
    if (!last) {
      setText("decision-meta", t("decision.none"));
      setText("decision-output", "");
      spBody.replaceChildren(); ptBody.replaceChildren(); $("intervention-list").replaceChildren();
      return;
    }
    setText("decision-meta", t("decision.meta", {
      cycle: last.cycle, time: fmtClock(last.time_s), age: fmtDuration(info.now_s - last.time_s), mode: last.mode,
      source: last.source, written: last.wrote ? t("decision.wrote") : t("decision.notWritten"),
      latency: fmtNumber(last.latency_ms, 2) }));
    $("decision-meta").dataset.cycle = String(last.cycle);
    const raw = last.raw_output;
    setText("decision-output", typeof raw === "string" ? t("decision.outputError", { text: raw }) : "");

    const proposed = raw && typeof raw === "object" ? raw : {};
    const { points: read, setpoints: written } = commanded(status);
    spBody.replaceChildren(...info.contract.setpoints.map((sp) => {
      const ov = status.overrides[sp.name];
      const envelope = last.setpoints ? last.setpoints[sp.name] : null;
      const note = isIn(written, sp.name) ? writtenText(last, sp.name) : t("written.notCommanded");
      return el("tr", { "data-setpoint": sp.name, class: isIn(written, sp.name) ? null : "idle" },
        el("th", { scope: "row", title: sp.description, text: sp.name }),
        el("td", { text: unitColumn(sp.unit) }),
        el("td", { text: `${fmtNumber(sp.site_low)} … ${fmtNumber(sp.site_high)}` }),
        el("td", { class: "num", text: fmtNumber(proposed[sp.name]) }),
        el("td", { class: "num", text: last.setpoints ? fmtNumber(envelope) : t("written.relinquished") }),
        el("td", { class: note ? "note-cell" : "num", text: note || fmtNumber(envelope) }),
        el("td", { class: "num", text: ov ? withUnit(ov.value, sp.unit) : t("value.none") }));
    }));

    const interventions = last.interventions.map((i) => el("li", {},
      el("strong", { text: i.reason }), ` (${i.target || t("value.none")}): ${i.detail}`,
      el("span", { class: "meaning", text: ` — ${info.reasons[i.reason] || ""}` })));
    $("intervention-list").replaceChildren(...(interventions.length ? interventions
      : [el("li", { class: "muted", text: t("decision.noInterventions") })]));

    const byPoint = new Map(); // what the envelope found about each point (not what it did to a setpoint)
    for (const i of last.interventions.filter((iv) => iv.reason.startsWith("sensor_") || iv.reason === "out_of_distribution")) {
      if (!byPoint.has(i.target)) byPoint.set(i.target, []);
      byPoint.get(i.target).push(i);
    }
    const ranges = info.model ? info.model.training_ranges : {};
    const points = last.points || {};
    ptBody.replaceChildren(...info.contract.points.map((p) => {
      const v = points[p.name];
      const range = ranges[p.name];
      const checks = [];
      let bad = false;
      if (!isIn(read, p.name)) checks.push(t("check.notRead"));
      else if (v === null || v === undefined) { checks.push(t("check.missing")); bad = true; }
      if (!range) { if (isIn(read, p.name)) checks.push(t("check.noRange")); }
      else if (v !== null && v !== undefined && (v < range[0] || v > range[1])) { checks.push(t("check.outside")); bad = true; }
      for (const i of byPoint.get(p.name) || []) { checks.push(t("check.reason", { reason: i.reason })); bad = true; }
      if (!checks.length) checks.push(t("check.ok"));
      return el("tr", { "data-point": p.name, class: bad ? "flag" : null },
        el("th", { scope: "row", title: p.description, text: p.name }),
        el("td", { class: "num", text: fmtNumber(v) }),
        el("td", { text: unitColumn(p.unit) }),
        el("td", { class: "num", text: range ? `${fmtNumber(range[0])} … ${fmtNumber(range[1])}` : t("value.none") }),
        el("td", { text: checks.join("; ") }));
    }));
  }

  // ---- plots (inline SVG) ----------------------------------------------------------------
  const W = 560, H = 230, ML = 50, MR = 12, MT = 16, MB = 30;

  function niceStep(raw) {
    const p = 10 ** Math.floor(Math.log10(raw));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }
  const TIME_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400];

  function timeTicks(t0, t1) {
    const span = t1 - t0;
    const step = TIME_STEPS.find((s) => span / s <= 7) || 86400 * Math.ceil(span / 86400 / 7);
    const offsetS = new Date(t0 * 1000).getTimezoneOffset() * 60; // local = utc - offset
    const ticks = [];
    for (let local = Math.ceil((t0 - offsetS) / step) * step; local + offsetS <= t1; local += step) ticks.push(local + offsetS);
    const daily = step >= 86400;
    return ticks.map((s) => [s, new Date(s * 1000).toLocaleString(LANG, daily
      ? { weekday: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit", hour12: false })]);
  }

  /**
   * A line chart: `series` [{label, values, cls}] over `times` (bucket starts, unix s), horizontal
   * `lines` [{label, value, cls}], and `marks` [{time_s, reason, target}] drawn as ▲ at the bottom.
   */
  function lineChart({ key, title, hours, times, series, lines = [], marks = [], t0, t1, gapS }) {
    const values = series.flatMap((s) => s.values).concat(lines.map((l) => l.value)).filter(Number.isFinite);
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!values.length) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { const pad = Math.max(Math.abs(hi) * 0.05, 0.5); lo -= pad; hi += pad; }
    const step = niceStep((hi - lo) / 4);
    lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
    const x = (s) => ML + ((s - t0) / (t1 - t0)) * (W - ML - MR);
    const y = (v) => MT + (1 - (v - lo) / (hi - lo)) * (H - MT - MB);
    const id = `chart-${key}`;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": `${id}-t ${id}-d`,
      id, "data-hours": hours });
    const summary = series.map((s) => {
      const lastIdx = s.values.findLastIndex(Number.isFinite);
      return t("chart.summaryItem", { label: s.label, value: lastIdx < 0 ? t("chart.noData") : fmtNumber(s.values[lastIdx]) });
    });
    root.append(svg("title", { id: `${id}-t` }, title), svg("desc", { id: `${id}-d` }, t("chart.summary", { title, items: summary.join(", ") })));
    const axis = svg("g", { class: "axis", "aria-hidden": "true" });
    for (let v = lo; v <= hi + step / 2; v += step) {
      axis.append(svg("line", { x1: ML, x2: W - MR, y1: y(v), y2: y(v), class: "grid" }),
        svg("text", { x: ML - 6, y: y(v) + 4, "text-anchor": "end" }, fmtNumber(v)));
    }
    for (const [s, label] of timeTicks(t0, t1)) {
      axis.append(svg("line", { x1: x(s), x2: x(s), y1: MT, y2: H - MB, class: "grid" }),
        svg("text", { x: x(s), y: H - MB + 16, "text-anchor": "middle" }, label));
    }
    axis.append(svg("rect", { x: ML, y: MT, width: W - ML - MR, height: H - MT - MB, class: "frame" }));
    root.append(axis);
    lines.forEach((l, k) => {
      if (!Number.isFinite(l.value) || l.value < lo || l.value > hi) return;
      const below = k % 2 === 0 && lines.length > 1; // two close lines: the first labelled below, the next above
      root.append(svg("line", { x1: ML, x2: W - MR, y1: y(l.value), y2: y(l.value), class: `ref ${l.cls}` }),
        svg("text", { x: W - MR - 4, y: y(l.value) + (below ? 13 : -4), "text-anchor": "end", class: `ref-label ${l.cls}` },
          l.label));
    });
    series.forEach((s, k) => {
      let d = "";
      let run = [];
      const flush = () => {
        if (run.length === 1) root.append(svg("circle", { cx: x(run[0][0]), cy: y(run[0][1]), r: 2.5, class: `dot ${s.cls}` }));
        run = [];
      };
      for (let i = 0; i < times.length; i++) {
        const v = s.values[i];
        const gap = i > 0 && times[i] - times[i - 1] > gapS;
        if (!Number.isFinite(v) || gap) flush();
        if (!Number.isFinite(v)) continue;
        d += `${run.length ? "L" : "M"}${x(times[i]).toFixed(1)} ${y(v).toFixed(1)}`;
        run.push([times[i], v]);
      }
      flush();
      if (d) root.append(svg("path", { d, class: `series ${s.cls}`, "data-series": k }));
    });
    const markLayer = svg("g", { class: "marks" });
    for (const m of marks) {
      const mx = x(m.time_s);
      markLayer.append(svg("path", { d: `M${mx.toFixed(1)} ${H - MB - 1}l-3.5 -7h7z`, class: "mark" },
        svg("title", {}, `${fmtClock(m.time_s)} ${m.reason} (${m.target})`)));
    }
    root.append(markLayer);
    const first = series[0];
    const finite = times.filter((_, i) => Number.isFinite(first.values[i]));
    root.dataset.points = String(finite.length);
    root.dataset.lastS = finite.length ? String(finite[finite.length - 1]) : "";
    const legend = el("ul", { class: "legend" }, ...series.map((s) => legendItem(s.label, `series ${s.cls}`)),
      ...lines.map((l) => legendItem(l.label, `ref ${l.cls}`)),
      marks.length ? el("li", {}, el("span", { class: "mark-key", "aria-hidden": "true", text: "▲" }), ` ${t("series.marks")} (${marks.length})`) : null);
    return el("figure", { class: "chart-box" }, el("figcaption", { text: title }), root, legend);
  }

  function legendItem(label, cls) {
    const key = svg("svg", { width: 30, height: 10, "aria-hidden": "true", class: "key" },
      svg("line", { x1: 1, x2: 29, y1: 5, y2: 5, class: cls }));
    return el("li", {}, key, ` ${label}`);
  }

  function renderTrends(info) {
    const tr = state.trends;
    if (!tr || (tr === state.drawn.trends && state.contractKey === state.drawn.contract)) return; // nothing new to draw
    state.drawn = { trends: tr, contract: state.contractKey };
    document.querySelectorAll(".zoom button").forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.hours) === tr.hours)));
    const left = tr.marks_left_out ? t("trends.left", { n: tr.marks_left_out }) : "";
    setText("trend-note", tr.time_s.length
      ? t("trends.note", { hours: tr.hours, bucket: fmtDuration(tr.bucket_s), marks: tr.marks.length, left })
      : t("trends.empty"));
    const common = { hours: tr.hours, times: tr.time_s, t0: tr.since_s, t1: tr.until_s,
      gapS: Math.max(2 * tr.bucket_s, 2.5 * info.period_s) };
    const charts = [
      lineChart({ ...common, key: "inlet", title: t("chart.inlet"), marks: tr.marks,
        series: [{ label: t("series.hottest"), values: tr.inlet_temp_max_c, cls: "s-hot" },
          { label: t("series.mean"), values: tr.inlet_temp_mean_c, cls: "s-mean" }],
        lines: [{ label: t("series.guard", { value: fmtNumber(tr.guard_c) }), value: tr.guard_c, cls: "r-guard" },
          { label: t("series.limit", { value: fmtNumber(tr.limit_c) }), value: tr.limit_c, cls: "r-limit" }] }),
      lineChart({ ...common, key: "facility", title: t("chart.facility"),
        series: [{ label: t("series.facility"), values: tr.facility_power_kw, cls: "s-facility" }] }),
      lineChart({ ...common, key: "cooling", title: t("chart.cooling"),
        series: [{ label: t("series.cooling"), values: tr.cooling_power_kw, cls: "s-cooling" }] }),
    ];
    const written = commanded(state.status).setpoints;
    for (const sp of info.contract.setpoints) {
      const s = tr.setpoints[sp.name];
      if (!s || !isIn(written, sp.name)) continue;
      charts.push(lineChart({ ...common, key: `sp-${sp.name}`, title: t("chart.setpoint", { name: sp.name, unit: unitColumn(sp.unit) }),
        marks: tr.marks.filter((m) => m.target === sp.name),
        series: [{ label: t("series.written"), values: s.written, cls: "s-written" },
          { label: t("series.proposed"), values: s.proposed, cls: "s-proposed" }] }));
    }
    $("charts").replaceChildren(...charts);
  }

  function renderOverrides(status, info) {
    const units = new Map(info.contract.setpoints.map((s) => [s.name, s.unit]));
    const entries = Object.entries(status.overrides);
    $("no-overrides").hidden = entries.length > 0;
    $("override-table").hidden = entries.length === 0;
    $("override-table").tBodies[0].replaceChildren(...entries.map(([name, o]) => {
      const left = o.expires_s - info.now_s;
      const clear = el("button", { type: "button", class: "needs-token", "data-clear": name,
        "aria-label": t("overrides.clearLabel", { name }), text: t("overrides.clear"), disabled: token === null });
      clear.addEventListener("click", () => prepareClear(name));
      return el("tr", { "data-override": name },
        el("th", { scope: "row", text: name }),
        el("td", { class: "num", text: withUnit(o.value, units.get(name) || "") }),
        el("td", { text: left > 0 ? fmtDuration(left) : t("overrides.expiring") }),
        el("td", { text: fmtClock(o.expires_s) }),
        el("td", { text: o.who }), el("td", { text: o.why }), el("td", {}, clear));
    }));
  }

  function renderDrift(status) {
    const drift = status.drift;
    const section = $("drift");
    section.hidden = !drift || typeof drift !== "object";
    if (section.hidden) return;
    facts($("drift-facts"), Object.entries(drift).map(([k, v]) => [k, typeof v === "number" ? fmtNumber(v)
      : v !== null && typeof v === "object" ? JSON.stringify(v) : String(v)]));
  }

  function renderHistory(info) {
    const nobody = t("history.nobody");
    $("no-history").hidden = info.actions.length > 0;
    $("history-list").replaceChildren(...info.actions.map((a) => {
      const base = { time: fmtClock(a.time_s), who: a.who || nobody, why: a.why || nobody, name: a.target };
      const text = a.kind === "mode" ? t("history.mode", { ...base, old: a.old, new: a.target })
        : a.kind === "override_set" ? t("history.set", { ...base, value: fmtNumber(a.value), until: fmtClock(a.expires_s) })
          : t("history.clear", base);
      return el("li", { text });
    }));
  }

  // ---- actions -------------------------------------------------------------------------
  function syncForms(status, info) {
    const writable = info.contract.setpoints.filter((s) => isIn(commanded(status).setpoints, s.name));
    const key = `${info.modes.join(",")}|${writable.map((s) => `${s.name}:${s.low}:${s.high}`).join(",")}`;
    if (key !== state.contractKey) {
      state.contractKey = key;
      const modeSelect = $("mode-select");
      const keepMode = modeSelect.value;
      modeSelect.replaceChildren(...info.modes.map((m) => el("option", { value: m, text: m })));
      modeSelect.value = keepMode && info.modes.includes(keepMode) ? keepMode : status.mode;
      const spSelect = $("override-setpoint");
      const keep = spSelect.value;
      spSelect.replaceChildren(...writable.map((s) => el("option", { value: s.name,
        text: `${s.name} (${unitColumn(s.unit)})` })));
      if (keep && writable.some((s) => s.name === keep)) spSelect.value = keep;
      describeSetpoint();
    }
  }

  function selectedSetpoint() {
    const name = $("override-setpoint").value;
    return state.info ? state.info.contract.setpoints.find((s) => s.name === name) : undefined;
  }

  function describeSetpoint() {
    const sp = selectedSetpoint();
    if (!sp) return;
    const input = $("override-value");
    input.min = String(sp.low);
    input.max = String(sp.high);
    input.step = "any";
    setText("override-hint", t("overrideForm.hint", { unit: unitColumn(sp.unit), low: fmtNumber(sp.low),
      high: fmtNumber(sp.high), siteLow: fmtNumber(sp.site_low), siteHigh: fmtNumber(sp.site_high) }));
  }

  function updateAccess() {
    const operator = token !== null;
    setText("access", operator ? t("access.operator") : t("access.viewer"), operator ? "access operator" : "access viewer");
    document.querySelectorAll("fieldset.action").forEach((f) => { f.disabled = !operator; });
    document.querySelectorAll("#quick-fallback, .needs-token").forEach((b) => { b.disabled = !operator; });
    $("token-forget").disabled = !operator;
  }

  function resultMessage(err) {
    if (!(err instanceof HttpError)) return t("result.noAnswer", { error: err.message });
    const detail = Array.isArray(err.detail)
      ? err.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
      : typeof err.detail === "string" ? err.detail : JSON.stringify(err.detail);
    if (err.status === 401) return t("result.unauthorized");
    if (err.status === 403) return t("result.forbidden");
    if (err.status === 422) return t("result.invalid", { detail });
    if (err.status === 409) return t("result.conflict", { detail });
    return t("result.other", { status: err.status, detail });
  }

  /** Send an action with the token; say in words what happened (`describe` words a refusal). */
  async function act(method, path, body, success, describe = resultMessage) {
    const result = $("action-result");
    result.className = "result";
    result.textContent = "…";
    try {
      const headers = { Authorization: `Bearer ${token}` };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const answer = await request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      setText("action-result", success(answer), "result good");
      return true;
    } catch (err) {
      setText("action-result", describe(err), "result bad");
      return false;
    } finally {
      poll();
    }
  }

  function prepareClear(name) {
    $("override-setpoint").value = name;
    describeSetpoint();
    $("override-who").focus();
  }

  function wire() {
    document.documentElement.lang = LANG;
    document.querySelectorAll("[data-msg]").forEach((e) => { e.textContent = t(e.dataset.msg); });
    document.querySelectorAll("#lang-switch a[hreflang]").forEach((a) => {
      if (a.hreflang === LANG) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = $("token-input");
      token = input.value.trim() || null;
      input.value = "";
      updateAccess();
      setText("action-result", token ? t("token.set") : t("token.forgotten"), "result");
    });
    $("token-forget").addEventListener("click", () => {
      token = null;
      updateAccess();
      setText("action-result", t("token.forgotten"), "result");
    });
    $("quick-fallback").addEventListener("click", () => {
      $("mode-select").value = "fallback";
      $("mode-who").focus();
    });
    $("mode-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { mode: $("mode-select").value, who: $("mode-who").value.trim(), why: $("mode-why").value.trim() };
      if (await act("POST", "api/v1/mode", body, (a) => t("result.mode", { old: a.old, new: a.mode }))) $("mode-why").value = "";
    });
    $("override-setpoint").addEventListener("change", describeSetpoint);
    $("override-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const sp = selectedSetpoint();
      const value = $("override-value").valueAsNumber;
      if (!sp || !Number.isFinite(value)) { setText("action-result", t("result.noValue"), "result bad"); return; }
      const body = { setpoint: sp.name, value, duration_s: $("override-minutes").valueAsNumber * 60,
        who: $("override-who").value.trim(), why: $("override-why").value.trim() };
      if (await act("POST", "api/v1/override", body, (a) => t("result.set", { name: a.setpoint,
        value: withUnit(a.value, sp.unit), until: fmtClock(a.expires_s) }))) $("override-why").value = "";
    });
    $("override-clear").addEventListener("click", async () => {
      const who = $("override-who"), why = $("override-why");
      if (!who.reportValidity() || !why.reportValidity()) return;
      const name = $("override-setpoint").value;
      const query = new URLSearchParams({ who: who.value.trim(), why: why.value.trim() });
      const path = `api/v1/override/${encodeURIComponent(name)}?${query}`;
      const describe = (err) => (err instanceof HttpError && err.status === 404 ? t("result.noOverride", { name }) : resultMessage(err));
      if (await act("DELETE", path, undefined, () => t("result.cleared", { name }), describe)) why.value = "";
    });
    document.querySelectorAll(".zoom button").forEach((b) => b.addEventListener("click", () => {
      state.hours = Number(b.dataset.hours);
      document.querySelectorAll(".zoom button").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
      poll();
    }));
    updateAccess();
    renderLive();
    poll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
