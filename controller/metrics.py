"""Prometheus metrics of the controller service (one registry per service, so tests stay independent)."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller.service import ControllerService, CycleOutcome
from controller.site import MODES
from envs.contract import POINT_NAMES, SETPOINT_NAMES

LATENCY_BUCKETS_S = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0)


class ServiceMetrics:
    """Decisions, interventions by reason, latency, sensor health, mode, setpoints, model failures."""

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
        for m in MODES:
            self.mode.labels(m).set(1.0 if m == service.mode else 0.0)
        self._service = service
        service.listeners.append(self.observe)

    def observe(self, outcome: CycleOutcome) -> None:
        """Update every metric from one cycle."""
        d = outcome.decision
        self.decisions.labels(d.source if d is not None else "off", outcome.mode).inc()
        self.latency.observe(outcome.latency_ms / 1000.0)
        for m in MODES:
            self.mode.labels(m).set(1.0 if m == self._service.mode else 0.0)
        if outcome.write_errors:
            self.writes_refused.inc(len(outcome.write_errors))
        if d is None:
            return
        failed = {i.target for i in d.interventions if i.reason.startswith("sensor_")}
        for name in POINT_NAMES:
            self.sensor_ok.labels(name).set(0.0 if name in failed else 1.0)
        for i in d.interventions:
            self.interventions.labels(i.reason).inc()
        self.model_failures.set(d.state.model_failures)
        if outcome.wrote and d.setpoints is not None:
            for name in SETPOINT_NAMES:
                value = d.setpoints.get(name, math.nan)
                self.setpoint.labels(name).set(value)
