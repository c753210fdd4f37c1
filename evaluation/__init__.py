"""What-if evaluation: the oracle, scenario files, the what-if KPI set, the parallel runner and the report.

Modules (imported on use; the runner and the KPIs load the simulator):
``coolpilot.evaluation.oracle`` (perfect-knowledge planner), ``coolpilot.evaluation.scenarios`` (scenario files,
pydantic only), ``coolpilot.evaluation.kpis`` (the KPI set), ``coolpilot.evaluation.whatif`` (policies × scenarios
in parallel processes), ``coolpilot.evaluation.report`` (report.html, results.json, CSV).
"""
