"""Readable validation errors for the project's pydantic config files (pydantic only, no simulator).

One line per problem: file, dotted field, value, unit, allowed range and reason. Used by
the facility, randomization, training and site files; the controller imports it without
importing the simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


def read_yaml(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The parsed content of a YAML file; ``error`` naming the file and ``what`` it is if unreadable."""
    p = Path(path)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"{p}: cannot read {what}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise error(f"{p}: not valid YAML: {err}") from None


def _field_meta(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Unit and allowed range of the field at ``loc``, for error messages."""
    current: Any = model
    info = None
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part)
        if info is None:
            return "", ""
        ann = info.annotation
        options = getattr(ann, "__args__", (ann,))
        current = next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None and isinstance(ann, type) and issubclass(ann, BaseModel):
            current = ann
    if info is None:
        return "", ""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    unit = str(extra.get("unit", ""))
    low = high = None
    for m in info.metadata:
        low = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else low
        low = getattr(m, "gt", None) if getattr(m, "gt", None) is not None else low
        high = getattr(m, "le", None) if getattr(m, "le", None) is not None else high
    rng = ""
    if low is not None or high is not None:
        lo = "-∞" if low is None else f"{low:g}"
        hi = "∞" if high is None else f"{high:g}"
        rng = f"{lo}..{hi} {unit}".strip()
    return unit, rng


def format_validation_error(err: ValidationError, model: type[BaseModel], source: str,
                            kind: str = "facility file") -> str:
    """One line per problem: file, dotted field, value, unit, allowed range, reason."""
    lines = [f"{source}: {err.error_count()} problem(s) in the {kind}:"]
    for e in err.errors():
        loc = tuple(e["loc"])
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[") or "(top level)"
        unit, rng = _field_meta(model, loc)
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}{(' ' + unit) if unit else ''}"
        allowed = f" (allowed {rng})" if rng else ""
        lines.append(f"  - field '{field}'{shown}: {e['msg']}{allowed}")
    return "\n".join(lines)
