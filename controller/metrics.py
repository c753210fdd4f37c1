"""Prometheus metrics of the controller service (one registry per service, so tests stay independent).

Per-cycle metrics are updated by the loop after each cycle; the state gauges (mode, model
health, hung inference threads) are read from the service's published snapshot when
scraped, so a change between cycles (a mode change, a reload) shows at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from coolpilot.controller.service import ControllerService, CycleOutcome, Snapshot
from coolpilot.controller.site import MODES

LATENCY_BUCKETS_S = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0)


class ServiceMetrics:
    """Decisions, interventions by reason, latency, sensor health, mode, setpoints, model failures and health."""

    def __init__(self, service: ControllerService) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("coolpilot_decisions", "Control decisions by source and mode.",
                                 ["source", "mode"], registry=r)
        self.interventions = Counter("coolpilot_interventions", "Safety-envelope interventions by reason.",
                                     ["reason"], registry=r)
        self.latency = Histogram("coolpilot_decision_latency_seconds", "Read + validate + infer + envelope time.",
                                 buckets=LATENCY_BUCKETS_S, registry=r)
        self.sensor_ok = Gauge("coolpilot_sensor_healthy", "1 if the point passed validation in the last cycle.",
                               ["point"], registry=r)
        self.mode = Gauge("coolpilot_mode", "1 for the current mode.", ["mode"], registry=r)
        self.setpoint = Gauge("coolpilot_setpoint", "Last setpoint written (physical units).", ["setpoint"],
                              registry=r)
        self.model_failures = Gauge("coolpilot_model_failures", "Consecutive failed or distrusted model cycles.",
                                    registry=r)
        self.writes_refused = Counter("coolpilot_writes_refused", "Setpoint writes the plant refused.", registry=r)
        self.model_timeouts = Counter("coolpilot_model_timeouts", "Inference calls abandoned past the time limit "
                                      "(or refused for want of a worker).", registry=r)
        self.model_healthy = Gauge("coolpilot_model_healthy", "1 while a model is loaded and healthy; 0 when none "
                                   "is loaded or it is marked unhealthy after repeated timeouts.", registry=r)
        self.hung_workers = Gauge("coolpilot_inference_workers_hung", "Inference threads abandoned past the time "
                                  "limit that are still running.", registry=r)
        self.drift_cv = Gauge("coolpilot_drift_cv_rmse_pct", "Rolling CV(RMSE) of the calibrated twin's one-step "
                              "prediction per watched point (%); NaN while undefined.", ["point"], registry=r)
        self.drift_nmbe = Gauge("coolpilot_drift_nmbe_pct", "Rolling NMBE (measured minus predicted) of the calibrated "
                                "twin's one-step prediction per watched point (%); NaN while undefined.", ["point"],
                                registry=r)
        self.drift_state = Gauge("coolpilot_drift_active", "1 while the watched point is in a drift episode.",
                                 ["point"], registry=r)
        self.drift_events = Counter("coolpilot_drift_events", "Drift episodes recorded, per watched point.", ["point"],
                                    registry=r)
        self.drift_twin_errors = Counter("coolpilot_drift_twin_errors", "Cycles the drift monitor's twin could not "
                                         "predict.", registry=r)
        for m in MODES:
            self.mode.labels(m).set_function(_is_mode(service, m))
        self.model_healthy.set_function(lambda: _model_healthy(service.snapshot))
        self._service = service
        self.hung_workers.set_function(lambda: float(service.hung_workers))
        service.listeners.append(self.observe)

    def observe(self, outcome: CycleOutcome) -> None:
        """Update every metric from one cycle."""
        d = outcome.decision
        self.decisions.labels(d.source if d is not None else "off", outcome.mode).inc()
        self.latency.observe(outcome.latency_ms / 1000.0)
        if outcome.model_timed_out:
            self.model_timeouts.inc()
        if outcome.write_errors:
            self.writes_refused.inc(len(outcome.write_errors))
        self._observe_drift(outcome)
        if d is None:
            return
        failed = {i.target for i in d.interventions if i.reason.startswith("sensor_")}
        commanded = self._service.commanded
        for name in commanded.point_names:
            self.sensor_ok.labels(name).set(0.0 if name in failed else 1.0)
        for i in d.interventions:
            self.interventions.labels(i.reason).inc()
        self.model_failures.set(d.state.model_failures)
        if outcome.wrote and d.setpoints is not None:
            for name in commanded.setpoint_names:  # NaN: handed back to the plant's own sequence
                value = d.setpoints.get(name, math.nan)
                self.setpoint.labels(name).set(value)


    def _observe_drift(self, outcome: CycleOutcome) -> None:
        """The drift monitor's figures per point, its events and twin errors."""
        if outcome.drift is None:
            return
        for p in outcome.drift.points:
            self.drift_events.labels(p.name)  # every watched point's counter exists from the first cycle, at 0
            self.drift_cv.labels(p.name).set(math.nan if p.cv_rmse_pct is None else p.cv_rmse_pct)
            self.drift_nmbe.labels(p.name).set(math.nan if p.nmbe_pct is None else p.nmbe_pct)
            self.drift_state.labels(p.name).set(1.0 if p.state == "drift" else 0.0)
        for e in outcome.drift_events:
            if e.kind == "drift":
                self.drift_events.labels(e.point.name).inc()
        if outcome.twin_error:
            self.drift_twin_errors.inc()


def _is_mode(service: ControllerService, mode: str) -> Callable[[], float]:
    """1.0 while the service's published mode is ``mode``, else 0.0 (read at each scrape)."""
    return lambda: 1.0 if service.snapshot.mode == mode else 0.0


def _model_healthy(snap: Snapshot) -> float:
    """1.0 while a model is loaded and healthy, else 0.0."""
    return 1.0 if snap.policy is not None and snap.model_health.healthy else 0.0
