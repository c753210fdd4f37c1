"""The lock file: every requirement of every extra pinned, and each pin inside pyproject.toml's range.

``requirements.lock`` is what the README's commands and ``.ci/run`` install through (pip's
``-c``); ``pyproject.toml`` keeps compatible ranges for people who install coolpilot into their own
environment. If the two drift apart (a range edited, a dependency added without regenerating the
lock), this fails and names the package: regenerate with the command at the top of the lock.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        m = PIN.match(line)
        if m:
            pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def _requirements() -> list[tuple[str, Requirement]]:
    """(where, requirement) for the core dependencies, every extra and requirements.in."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = [("dependencies", Requirement(r)) for r in project["dependencies"]]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        found += [(f"optional-dependencies.{extra}", Requirement(r)) for r in reqs]
    for line in (REPO / "requirements.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            found.append(("requirements.in", Requirement(line)))
    return [(where, req) for where, req in found if canonicalize_name(req.name) != "coolpilot"]


def test_the_lock_pins_every_requirement_inside_its_range() -> None:
    pins = _pins()
    problems = []
    for where, req in _requirements():
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"pyproject.toml {where}: {req} is not pinned in requirements.lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"pyproject.toml {where}: {req} does not admit the locked {req.name}=={pinned}")
    assert not problems, "requirements.lock no longer satisfies pyproject.toml (regenerate it):\n" + "\n".join(problems)


def test_every_lock_line_is_an_exact_pin_from_the_index() -> None:
    """No URL, file or editable lines (a self-reference makes pip refuse to install the project), no ranges."""
    odd = [f"line {n}: {line}" for n, line in enumerate(LOCK.read_text().splitlines(), 1)
           if line.strip() and not line.lstrip().startswith("#") and not PIN.match(line)]
    assert not odd, "requirements.lock has lines that are not exact pins:\n" + "\n".join(odd)
    assert "coolpilot" not in _pins(), "requirements.lock pins coolpilot itself: pip would refuse the editable install"


def test_the_lock_keeps_torch_on_the_cpu_build() -> None:
    """A CUDA build of torch drags in nvidia-* wheels (several GB); the lock must never ask for them."""
    pins = _pins()
    assert "torch" in pins, "requirements.lock: torch is not pinned"
    cuda = sorted(name for name in pins if name.startswith(("nvidia-", "triton", "cuda-")))
    assert not cuda, f"requirements.lock pins CUDA packages {cuda}: regenerate it with the CPU torch installed"


def test_the_lock_says_how_to_regenerate_it() -> None:
    head = LOCK.read_text().split("\n", 8)[:8]
    assert any("pip-compile" in line and "requirements.in" in line for line in head), (
        "requirements.lock: the command that regenerates it is missing from its header")


@pytest.mark.parametrize("path", ["README.md", ".ci/run"])
def test_installs_go_through_the_lock(path: str) -> None:
    text = (REPO / path).read_text()
    installs = [line for line in text.splitlines() if re.search(r"pip install\b.*-e ", line)]
    assert installs, f"{path}: no editable install found"
    unlocked = [line.strip() for line in installs if "-c requirements.lock" not in line]
    assert not unlocked, f"{path}: installs that bypass requirements.lock: {unlocked}"
