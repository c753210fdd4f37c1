"""The layers of DESIGN.md section 1, checked on every import of every module (function-level ones too).

Lowest first, an import only ever points down:

1. ``coolpilot.envs``: the simulator; numpy, numba, pydantic, gymnasium (and PyYAML for facility files).
2. ``coolpilot.controller``: the online service; never torch, stable-baselines3, training or evaluation.
3. ``coolpilot.evaluation`` and ``coolpilot.training``: evaluation never imports training (training clones
   from the oracle and uses the policy registry and the executor, which therefore live in evaluation).
4. ``coolpilot.cli``, ``coolpilot.commands``, ``coolpilot.__main__``: the CLI; nothing below imports it.

``coolpilot/__init__.py``, the namespace root every subpackage import loads first, holds only the
version and imports nothing, so reading ``coolpilot.__version__`` is not a way up.

The folders stay at the repository root (``envs/``, ``controller/``, ...); they are installed under the
``coolpilot`` namespace (``coolpilot/envs`` is a link to ``envs/``), so no module may import them by
their bare folder names, which would collide with other distributions in a user's environment.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "controller", "evaluation", "training")
RANK = {"root": 0, "envs": 1, "controller": 2, "evaluation": 3, "training": 3, "cli": 4}
MAY_IMPORT = {
    "envs": {"envs"},
    "controller": {"envs", "controller"},
    "evaluation": {"envs", "controller", "evaluation"},
    "training": {"envs", "controller", "evaluation", "training"},
    "cli": {"envs", "controller", "evaluation", "training", "cli"},
}
THIRD_PARTY = {
    "envs": {"numpy", "numba", "pydantic", "gymnasium", "yaml"},
    "controller": None,  # the serving libraries; see FORBIDDEN
    "evaluation": None,
    "training": None,
    "cli": None,
}
FORBIDDEN = {
    "controller": {"torch", "stable_baselines3", "tensorboard", "ray", "optuna"},
    "evaluation": {"torch", "stable_baselines3", "tensorboard"},
}
STDLIB = set(sys.stdlib_module_names)


def _layer_of_module(module: str) -> str | None:
    """The layer a first-party module name belongs to; None for third-party and stdlib modules."""
    parts = module.split(".")
    if parts[0] != "coolpilot":
        return None
    if len(parts) == 1 or parts[1] == "__version__":
        return "root"
    if parts[1] in PACKAGES:
        return parts[1]
    return "cli"


def _sources() -> Iterator[tuple[str, Path]]:
    for layer in PACKAGES:
        for path in sorted((REPO / layer).rglob("*.py")):
            yield layer, path
    for path in sorted((REPO / "coolpilot").rglob("*.py")):
        if not any(part in PACKAGES for part in path.relative_to(REPO / "coolpilot").parts):
            yield "cli", path


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] != "coolpilot":
        parts.insert(0, "coolpilot")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            if module == "coolpilot":  # `from coolpilot import envs` imports the subpackage, `cli` the CLI
                for alias in node.names:
                    yield node.lineno, f"coolpilot.{alias.name}"


def _violations() -> list[str]:
    found = []
    for layer, path in _sources():
        where = path.relative_to(REPO)
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in PACKAGES:
                found.append(f"{where}:{line}: imports {module!r} by its bare folder name; use coolpilot.{module}")
                continue
            target = _layer_of_module(module)
            if target is None:
                allowed = THIRD_PARTY[layer]
                if top in FORBIDDEN.get(layer, set()):
                    found.append(f"{where}:{line}: layer {layer} must not import {top}")
                elif allowed is not None and top not in allowed and top not in STDLIB and top != "__future__":
                    found.append(f"{where}:{line}: layer {layer} may use only {sorted(allowed)}, not {top}")
                continue
            if target == "root":
                continue
            if target not in MAY_IMPORT[layer]:
                found.append(f"{where}:{line}: layer {layer} (rank {RANK[layer]}) imports {module} "
                             f"(layer {target}, rank {RANK[target]}): imports only point down")
    return found


def test_every_import_points_down() -> None:
    problems = _violations()
    assert not problems, "layering violations (DESIGN.md section 1):\n" + "\n".join(problems)


@pytest.mark.parametrize(("layer", "module", "bad"), [
    ("envs", "coolpilot.controller.safety", True),
    ("envs", "coolpilot.cli", True),
    ("controller", "coolpilot.training.export", True),
    ("controller", "coolpilot.evaluation.kpis", True),
    ("evaluation", "coolpilot.training.train", True),
    ("training", "coolpilot.evaluation.policies", False),
    ("training", "coolpilot.commands.train", True),
    ("controller", "coolpilot.envs.contract", False),
    ("cli", "coolpilot.training.train", False),
    ("envs", "coolpilot.__version__", False),
])
def test_the_checker_knows_the_rules(layer: str, module: str, bad: bool) -> None:
    """The rule table itself: a check that could never fail would prove nothing."""
    target = _layer_of_module(module)
    assert target is not None
    assert (target != "root" and target not in MAY_IMPORT[layer]) is bad


def test_the_namespace_root_imports_nothing() -> None:
    """``coolpilot/__init__.py`` is loaded by every subpackage import: it must not pull the CLI (or anything) in."""
    assert list(_imports(REPO / "coolpilot" / "__init__.py")) == []


def test_the_namespace_links_point_at_the_root_folders() -> None:
    for name in PACKAGES:
        link = REPO / "coolpilot" / name
        assert link.is_symlink() and link.resolve() == (REPO / name).resolve(), (
            f"coolpilot/{name} must be a link to ../{name} (the installed name of the root folder {name}/)")
