"""Build a policy by name for a facility (the one place that maps site facts to policy settings)."""

from __future__ import annotations

import logging
from pathlib import Path

from controller.policies import LegacyPolicy, Policy, RuleBasedPolicy, RuleBasedSettings
from envs.config import FacilityConfig
from envs.simulation import PlantAwarePolicy

POLICY_NAMES = ("legacy", "rule-based", "oracle")


def rule_based_settings(cfg: FacilityConfig) -> RuleBasedSettings:
    """Commissioning settings of the rule-based controller from the facility's design data."""
    worst_recirc = max(z.recirculation_frac for z in cfg.zones)
    return RuleBasedSettings(
        coil_approach_k=cfg.crah.coil_approach_k,
        fan_min_frac=cfg.crah.min_speed_frac,
        min_condenser_c=cfg.chillers.min_condenser_temp_c,
        economizer=cfg.economizer.enabled,
        mix_target_k=1.0 + worst_recirc * cfg.servers.delta_t_k / (1.0 - worst_recirc),
    )


def make_policy(name: str, cfg: FacilityConfig) -> Policy | PlantAwarePolicy:
    """``legacy``, ``rule-based``, ``oracle``, or the path of a policy bundle folder, for facility ``cfg``."""
    if name == "legacy":
        return LegacyPolicy()
    if name == "rule-based":
        return RuleBasedPolicy(rule_based_settings(cfg))
    if name == "oracle":
        from evaluation.oracle import OraclePolicy

        return OraclePolicy(rule_based_settings(cfg))
    if Path(name).is_dir() or "/" in name:
        from controller.policies.onnx_policy import OnnxPolicy

        policy = OnnxPolicy(name)
        if policy.card["facility"] != cfg.name:
            logging.getLogger(__name__).warning(
                "policy %s was trained for facility %s, not %s: its rule-based base and training ranges are "
                "that facility's", policy.name, policy.card["facility"], cfg.name)
        return policy
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)} or a bundle folder "
                     "such as models/NAME")
