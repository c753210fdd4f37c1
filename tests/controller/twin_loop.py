"""The controller service in lockstep with the simulated plant, in process, in plant time.

Shared by ``tests/controller/test_drift.py``, ``tests/controller/test_excitation.py`` (short runs, in CI)
and ``benchmarks/bench_drift.py`` (a simulated week per seed). No broker and no wall clock: the
adapter (:class:`TwinAdapter`) wraps a :class:`~coolpilot.controller.twin.plant.PlantTwin` without MQTT;
after every cycle the plant steps one ``dt_s`` under the setpoints the cycle wrote (or its own control),
and the service's clock is the plant's (unix time of the plant's year, so
the plant's local standard time equals its simulation time). Everything else is the service as
``coolpilot serve`` runs it: site file validation, the envelope, the audit trail, the drift
monitor, the excitation plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coolpilot.controller.adapters.base import Reading, WriteResult
from coolpilot.controller.service import ControllerService, CycleOutcome
from coolpilot.controller.site import site_from_mapping
from coolpilot.controller.twin.plant import PlantTwin

YEAR_START_S = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
"""Unix time of the plant's 1 January 00:00 (a year that is not a leap year, as the TMY weather)."""


class TwinAdapter:
    """An adapter over an in-process plant: reads its sensors now, writes apply at once (:class:`Loop` steps it)."""

    name = "twin"

    def __init__(self, twin: PlantTwin) -> None:
        self.twin = twin
        self.reads = 0
        self.writes: list[dict[str, float]] = []
        self.bias: dict[str, float] = {}
        """Offsets added to readings (a sensor reading off, or a hall made hot for a test), point -> its unit."""

    def clock(self) -> float:
        """The plant's time as unix time (s)."""
        return YEAR_START_S + self.twin.plant_time_s

    async def connect(self) -> None:
        pass

    async def read_points(self) -> Reading:
        self.reads += 1
        values: dict[str, object] = {n: v + self.bias.get(n, 0.0) for n, v in self.twin.sensor_values.items()}
        return Reading(values, dict.fromkeys(values, self.clock()))

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        self.writes.append(dict(setpoints))
        for name, value in setpoints.items():
            self.twin.apply_setpoint(name, value)
        return WriteResult(dict.fromkeys(setpoints, True), {})

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        for name in names:
            self.twin.apply_setpoint(name, None)
        return WriteResult(dict.fromkeys(names, True), {})

    async def close(self) -> None:
        pass


def degrade_chillers(twin: PlantTwin, cop_factor: float) -> None:
    """Scale every chiller's reference COP (the DOE-2 EIR curves' scale) by ``cop_factor`` from the next step.

    Plant parameters are the twin's own (built from its facility); a fouled condenser or a refrigerant
    leak shows like this: the same cooling for more electric power.
    """
    p = twin._params  # the fault goes into the plant's own parameters (a test hook)
    twin._params = p._replace(chiller_cop_ref=p.chiller_cop_ref * cop_factor)


@dataclass
class Loop:
    """A service and its plant, stepped together."""

    service: ControllerService
    adapter: TwinAdapter
    outcomes: list[CycleOutcome] = field(default_factory=list)

    @property
    def twin(self) -> PlantTwin:
        """The plant."""
        return self.adapter.twin

    def run(self, cycles: int) -> list[CycleOutcome]:
        """Run ``cycles`` control cycles (one plant step each); returns their outcomes."""
        async def go() -> list[CycleOutcome]:
            out = []
            for _ in range(cycles):
                out.append(await self.service.run_cycle())
                self.twin.step()  # the plant runs a period under what the cycle wrote (or its own control)
            return out
        new = asyncio.run(go())
        self.outcomes += new
        return new

    def close(self) -> None:
        """Close the audit trail."""
        self.service.audit.close()


SETTLE_STEPS = 36
"""Plant steps (3 h) run under the site's own control before the service starts: a plant in operation, not
one starting cold (the simulated plant starts with its chilled water at 7 °C, which its loops reset)."""


def make_loop(tmp_path: Path, *, climate: str = "phoenix", start_day: float = 190.0, seed: int = 0,
              mode: str = "shadow", excitation: str | Path | None = None, settle_steps: int = SETTLE_STEPS,
              **site: Any) -> Loop:
    """A service on an in-process ``modern-hall`` twin started ``settle_steps`` before ``start_day``; ``site``
    entries go into the site file (no model unless given: the fallback policy proposes)."""
    twin = PlantTwin("modern-hall", climate, start_day=start_day - settle_steps * 300.0 / 86400.0, dt_s=300.0,
                     seed=seed, mqtt=None)
    for _ in range(settle_steps):
        twin.step()
    adapter = TwinAdapter(twin)
    data = {"name": "twin-loop", "facility": "modern-hall", "mode": mode, "period_s": 300.0,
            "adapter": {"kind": "csv", "csv": {"path": "unused.csv"}},
            "audit": {"path": str(tmp_path / "audit.sqlite")}, **site}
    config = site_from_mapping(data, "twin-loop site", tmp_path)
    service = ControllerService(config, adapter, clock=adapter.clock, excitation=excitation)
    return Loop(service, adapter)


def drift_events(outcomes: Sequence[CycleOutcome], kind: str = "drift") -> list[tuple[int, str]]:
    """(cycle, point) of each drift episode starting (or, with ``kind="cleared"``, ending) in ``outcomes``."""
    return [(o.cycle, e.point.name) for o in outcomes for e in o.drift_events if e.kind == kind]


def detection_delay(tmp_path: Path, *, climate: str, start_day: float, seed: int = 0, healthy_cycles: int,
                    max_cycles: int, cop_factor: float = 0.8, **site: Any) -> tuple[int | None, str, int]:
    """Run ``healthy_cycles`` cycles, degrade the chillers' COP by ``cop_factor``, run up to ``max_cycles`` more.

    Returns the cycles from the degradation to the first drift event (None: not flagged), the point flagged
    first, and the drift events of the healthy part (false alarms).
    """
    loop = make_loop(tmp_path, climate=climate, start_day=start_day, seed=seed, **site)
    try:
        healthy = drift_events(loop.run(healthy_cycles))
        degrade_chillers(loop.twin, cop_factor)
        for k in range(1, max_cycles + 1):
            events = drift_events(loop.run(1))
            if events:
                return k, events[0][1], len(healthy)
        return None, "", len(healthy)
    finally:
        loop.close()
