"""The coolpilot simulator: facility config, weather, IT load, batched physics, gymnasium envs."""
