"""The policy registry: build a policy by name for a facility.

It lives in ``evaluation`` because it names the oracle (an evaluation tool); training (cloning
from the oracle) and the CLI import it from here, never the other way round.
"""

from __future__ import annotations

import logging
from pathlib import Path

from coolpilot.controller.policies import LegacyPolicy, Policy, RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.simulation import PlantAwarePolicy

POLICY_NAMES = ("legacy", "rule-based", "oracle")


def make_policy(name: str, cfg: FacilityConfig) -> Policy | PlantAwarePolicy:
    """``legacy``, ``rule-based``, ``oracle``, a shipped bundle by name (``modern-hall-ppo``) or the path of a
    policy bundle folder, for facility ``cfg``.

    Rule-based (and the oracle's fallback) is commissioned for the facility: its core loops and a
    sequence for every plant lever of the facility's contract. Legacy commands the core four; the
    plant runs its levers on its own sequence. A bundle must fit the facility's contract
    (:func:`coolpilot.envs.contract.bundle_fits`): a contract-2 bundle needs it exactly, a
    contract-1 bundle (the core block) runs on any facility, commanding the core four while the
    plant sequences the rest; a bundle that does not fit is refused naming every difference.
    """
    if name == "legacy":
        return LegacyPolicy()
    if name == "rule-based":
        return RuleBasedPolicy(rule_based_settings(cfg))
    if name == "oracle":
        from coolpilot.evaluation.oracle import OraclePolicy, planning_horizon_h

        return OraclePolicy(rule_based_settings(cfg), horizon_h=planning_horizon_h(cfg.storage.installed))
    from coolpilot.controller.policies.bundles import bundle_names, find_bundle

    path = find_bundle(name)
    if path is not None or "/" in name:
        from coolpilot.controller.policies.onnx_policy import OnnxPolicy

        policy = OnnxPolicy(path or name, cfg.contract, cfg.name)
        trained = str(policy.card["facility"])  # a preset's name, or a facility file's path (named by its stem)
        if cfg.name not in (trained, Path(trained).stem):
            logging.getLogger(__name__).warning(
                "policy %s was trained for facility %s, not %s: its rule-based base and training ranges are "
                "that facility's", policy.name, policy.card["facility"], cfg.name)
        return policy
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}, a shipped bundle "
                     f"({', '.join(bundle_names()) or 'none installed'}; see coolpilot models) or a bundle folder")
