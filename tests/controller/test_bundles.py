"""Shipped bundles by name: resolution order, refusal listing the shipped ones, site and scenario files."""

from __future__ import annotations

from pathlib import Path

import pytest

from coolpilot.controller.policies.bundles import (
    BUNDLES_DIR,
    bundle_info,
    bundle_names,
    bundle_path,
    find_bundle,
    shipped_bundles,
)
from coolpilot.controller.policies.onnx_policy import BundleError
from coolpilot.controller.site import site_from_mapping

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "modern-hall-ppo"


def test_the_shipped_bundles_are_the_models_folder_and_package_data() -> None:
    assert BUNDLES_DIR.resolve() == (REPO / "models").resolve()
    assert (REPO / "coolpilot" / "models").is_symlink()
    assert (REPO / "coolpilot" / "models").resolve() == (REPO / "models").resolve()
    assert "modern-hall-ppo" in bundle_names()
    info = {b.name: b for b in shipped_bundles()}["modern-hall-ppo"]
    assert info.facility == "modern-hall" and len(info.sha256) == 64 and info.training_climates
    assert info.kpis["baseline"] == "rule-based" and info.kpis["climates"]


@pytest.mark.parametrize("spec", ["modern-hall-ppo", "models/modern-hall-ppo"])
def test_a_bare_or_models_prefixed_name_resolves_from_any_folder(spec: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_bundle(spec) == BUNDLES_DIR / "modern-hall-ppo"


def test_a_folder_given_by_path_comes_before_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "modern-hall-ppo"
    own.mkdir()
    monkeypatch.chdir(tmp_path)
    assert find_bundle("modern-hall-ppo") == own.resolve()
    assert find_bundle("modern-hall-ppo", (tmp_path / "elsewhere",)) == BUNDLES_DIR / "modern-hall-ppo"
    assert find_bundle(str(SHIPPED)) == SHIPPED.resolve()


def test_an_unknown_bundle_is_refused_listing_the_shipped_ones(tmp_path: Path) -> None:
    assert find_bundle("no-such-policy", (tmp_path,)) is None
    with pytest.raises(BundleError, match=r"no policy bundle 'no-such-policy'.*shipped bundle \(.*modern-hall-ppo"):
        bundle_path("no-such-policy", (tmp_path,))
    with pytest.raises(BundleError, match=r"(policy\.onnx|card\.json) is missing"):
        bundle_info(tmp_path)


def test_a_site_file_names_a_shipped_bundle(tmp_path: Path) -> None:
    site = site_from_mapping({"model": "modern-hall-ppo", "adapter": {"kind": "csv", "csv": {"path": "x.csv"}}},
                             "site.yaml", tmp_path)
    assert site.model == str(BUNDLES_DIR / "modern-hall-ppo")
    own = site_from_mapping({"model": "../hall/bundle", "adapter": {"kind": "csv", "csv": {"path": "x.csv"}}},
                            "site.yaml", tmp_path)
    assert own.model == str(tmp_path / "../hall/bundle")  # not there: kept as written, load names the path


def test_make_policy_and_scenario_files_take_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coolpilot.envs.config import load_facility
    from coolpilot.evaluation.policies import make_policy
    from coolpilot.evaluation.scenarios import ScenarioFileError, scenario_set_from_mapping

    monkeypatch.chdir(tmp_path)
    policy = make_policy("modern-hall-ppo", load_facility("modern-hall"))
    assert getattr(policy, "name", None) == "modern-hall-ppo"
    with pytest.raises(ValueError, match=r"unknown policy 'magic'.*shipped bundle \(ai-factory-ppo, legacy-hall-ppo, "
                                         r"modern-hall-cost-ppo, modern-hall-ppo"):
        make_policy("magic", load_facility("modern-hall"))
    sset = scenario_set_from_mapping({"policies": ["rule-based", "modern-hall-ppo"], "scenarios": [{"name": "a"}]},
                                     "s.yaml", tmp_path)
    assert sset.proposed == "modern-hall-ppo" and Path(sset.policy("modern-hall-ppo").spec) == BUNDLES_DIR / (
        "modern-hall-ppo")
    with pytest.raises(ScenarioFileError,
                       match=r"policies\[1\]'.*a shipped bundle \(ai-factory-ppo, legacy-hall-ppo, "
                             r"modern-hall-cost-ppo, "
                             r"modern-hall-ppo, modern-hall-tes-cost-ppo\)"):
        scenario_set_from_mapping({"policies": ["rule-based", "nope"], "scenarios": [{"name": "a"}]}, "s.yaml",
                                  tmp_path)
