"""Policies: anything with ``act(points) -> setpoints``."""

from controller.policies.base import Policy
from controller.policies.legacy import LegacyPolicy
from controller.policies.rule_based import RuleBasedPolicy, RuleBasedSettings, rule_based_settings

__all__ = ["LegacyPolicy", "Policy", "RuleBasedPolicy", "RuleBasedSettings", "rule_based_settings"]
