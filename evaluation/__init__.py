"""What-if evaluation: the oracle, scenario files, the what-if KPI set, the parallel runner and the report.

Modules (imported on use; the runner and the KPIs load the simulator):
``evaluation.oracle`` (perfect-knowledge planner), ``evaluation.scenarios`` (scenario files,
pydantic only), ``evaluation.kpis`` (the KPI set), ``evaluation.whatif`` (policies × scenarios
in parallel processes), ``evaluation.report`` (report.html, results.json, CSV).
"""
