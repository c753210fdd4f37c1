"""Site calibration: a site's trend history, the facility parameters it can inform, and the twin that replays it.

Modules: :mod:`~coolpilot.envs.calibration.history` (readers: the simulator's CSV, the audit's
``decisions.csv``, BMS exports with a column map), :mod:`~coolpilot.envs.calibration.targets` (what a
history may hold and how misfit is scaled), :mod:`~coolpilot.envs.calibration.parameters` (the fitted
parameters with their physical bounds, as facility-file fields), :mod:`~coolpilot.envs.calibration.twin`
(the batched replay and the one-step predictor for the drift monitor),
:mod:`~coolpilot.envs.calibration.metrics` (ASHRAE Guideline 14 statistics) and
:mod:`~coolpilot.envs.calibration.plan` (excitation plans for what history cannot pin down).

They live in ``envs`` so the controller service can run the twin (its drift monitor and the plan)
without the optimizer: everything here is numpy, pydantic and PyYAML. The fit itself (CMA-ES from
the ``cma`` package, the sensitivity analysis and the report) is
:mod:`coolpilot.evaluation.calibration`, a layer allowed the optimizer and the report templates.
"""
