"""The coolpilot simulator: facility config, weather, IT load, batched physics, gymnasium envs.

Importing :mod:`envs` registers ``coolpilot/DataCenter-v1`` with gymnasium; the heavy
modules (physics, env) load on first use.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

ENV_ID = "coolpilot/DataCenter-v1"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="coolpilot.envs.env:DataCenterEnv")

__all__ = ["ENV_ID", "DataCenterEnv"]


def __getattr__(name: str) -> Any:
    if name == "DataCenterEnv":
        from coolpilot.envs.env import DataCenterEnv

        return DataCenterEnv
    raise AttributeError(name)
