"""Shipped policy bundles by name: ``modern-hall-ppo`` is the bundle installed with the package.

The bundles of the repository's ``models/<name>/`` (``policy.onnx`` + ``card.json``) are package data:
``coolpilot/models`` links to ``models/`` as ``coolpilot/envs`` links to ``envs/``, so a wheel installs
them as ``coolpilot/models/<name>/`` and a checkout reads the folder itself. Everywhere a bundle folder is
accepted (``simulate --policy``, scenario files, site files) a bare name resolves here: a folder given by
path is taken first, then a shipped bundle by name (``modern-hall-ppo``, or ``models/modern-hall-ppo`` as
older files and the README wrote it, which then works from an installed package too).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coolpilot.controller.policies.onnx_policy import BundleError, read_card

BUNDLES_DIR = Path(__file__).resolve().parents[2] / "models"
"""The shipped bundles: ``models/`` of a checkout, ``coolpilot/models/`` of an installed package."""
SHIPPED_PREFIX = "models"
"""Folder name under which files and the README name shipped bundles (``models/<name>``)."""


def bundle_names() -> list[str]:
    """Names of the shipped bundles (folders of :data:`BUNDLES_DIR` with a card)."""
    if not BUNDLES_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLES_DIR.iterdir() if (p / "card.json").is_file())


def _shipped(spec: str) -> Path | None:
    parts = Path(spec).parts
    if len(parts) == 2 and parts[0] == SHIPPED_PREFIX:
        parts = parts[1:]
    if len(parts) == 1 and parts[0] in bundle_names():
        return BUNDLES_DIR / parts[0]
    return None


def find_bundle(spec: str, base_dirs: tuple[Path, ...] = ()) -> Path | None:
    """The bundle folder ``spec`` names: an existing folder (absolute, or relative to ``base_dirs``, by default
    the working directory), else a shipped bundle by name; None when neither exists. The folder is not
    checked for a valid card: :func:`coolpilot.controller.policies.onnx_policy.read_card` does that."""
    p = Path(spec).expanduser()
    candidates = [p] if p.is_absolute() else [b / p for b in (base_dirs or (Path.cwd(),))]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return _shipped(spec)


def bundle_path(spec: str, base_dirs: tuple[Path, ...] = ()) -> Path:
    """Like :func:`find_bundle`, but a missing bundle is a :class:`BundleError` listing the shipped ones."""
    found = find_bundle(spec, base_dirs)
    if found is None:
        where = ", ".join(str(b) for b in (base_dirs or (Path.cwd(),)))
        raise BundleError(f"no policy bundle {spec!r}: not a bundle folder (looked in {where}) nor a shipped bundle "
                          f"({', '.join(bundle_names()) or 'none installed'})")
    return found


@dataclass(frozen=True)
class BundleInfo:
    """What ``coolpilot models`` lists about a bundle, read from its card (sha256 checked)."""

    name: str
    path: Path
    facility: str
    env_id: str
    algo: str
    training_climates: tuple[str, ...]
    sha256: str
    created_at: str
    kpis: dict[str, Any]
    """The card's evaluation at export: baseline, held-out climates, savings (%), PUE, degree-hours."""


def bundle_info(path: Path) -> BundleInfo:
    """The facts of one bundle folder (:class:`BundleError` if its card is invalid)."""
    card = read_card(path)
    training = card.get("training") or {}
    env = (training.get("config") or {}).get("env") or {}
    evaluation = card.get("evaluation") or {}
    keys = ("baseline", "climates", "facility_saving_pct", "cooling_saving_pct", "pue", "baseline_pue",
            "degree_hours_above_27c")
    return BundleInfo(
        name=str(card["name"]), path=path, facility=str(card["facility"]), env_id=str(card["env_id"]),
        algo=str(training.get("algo", "")), training_climates=tuple(env.get("climates") or ()),
        sha256=str(card["onnx"]["sha256"]), created_at=str(card["created_at"]),
        kpis={k: evaluation.get(k) for k in keys},
    )


def shipped_bundles() -> list[BundleInfo]:
    """Every shipped bundle's facts, by name."""
    return [bundle_info(BUNDLES_DIR / name) for name in bundle_names()]


__all__ = ["BUNDLES_DIR", "BundleInfo", "bundle_info", "bundle_names", "bundle_path", "find_bundle",
           "shipped_bundles"]
