"""Policies: anything with ``act(points) -> setpoints``."""

from coolpilot.controller.policies.base import Policy
from coolpilot.controller.policies.legacy import LegacyPolicy
from coolpilot.controller.policies.rule_based import RuleBasedPolicy, RuleBasedSettings, rule_based_settings

__all__ = ["LegacyPolicy", "Policy", "RuleBasedPolicy", "RuleBasedSettings", "rule_based_settings"]
