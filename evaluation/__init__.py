"""What-if evaluation: the oracle now; scenarios, KPIs and reports build on it."""
