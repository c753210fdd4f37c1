"""Readable validation errors for the project's pydantic config files (pydantic only, no simulator).

One line per problem: file, dotted field, value, unit, allowed range and reason. Used by
the facility, randomization, training and site files and the safety limits; the controller
imports it without importing the simulator.

Two hooks for models whose fields pydantic alone cannot describe:

- a validator that finds several problems raises :class:`FieldProblemsError`, and each becomes
  its own line (with its field relative to where the validator runs);
- a mapping field keyed by name (setpoint -> bound, say) gives each key's unit and allowed
  range in ``json_schema_extra={"keys": {key: {"unit": ..., "range": ...}}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FieldProblem:
    """One problem a validator found: field (relative to the validator's location), value, why, allowed."""

    field: str
    value: str
    """The value as it should be shown, with its unit."""
    why: str
    allowed: str

    def __str__(self) -> str:
        return f"field '{self.field}' = {self.value}: {self.why} (allowed {self.allowed})"


class FieldProblemsError(ValueError):
    """Raised by a validator that found several problems; :func:`format_validation_error` lists each."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)


def _field_meta(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Unit and allowed range of the field at ``loc``, for error messages."""
    current: Any = model
    info = None
    rest: tuple[int | str, ...] = ()
    for i, part in enumerate(loc):
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part)
        if info is None:
            return "", ""
        rest = loc[i + 1:]
        ann = info.annotation
        options = getattr(ann, "__args__", (ann,))
        current = next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None and isinstance(ann, type) and issubclass(ann, BaseModel):
            current = ann
    if info is None:
        return "", ""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    keys = extra.get("keys")
    if rest and isinstance(keys, dict) and isinstance(keys.get(rest[0]), dict):
        keyed = keys[rest[0]]
        return str(keyed.get("unit", "")), str(keyed.get("range", ""))
    unit = str(extra.get("unit", ""))
    low = high = None
    for m in info.metadata:
        low = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else low
        low = getattr(m, "gt", None) if getattr(m, "gt", None) is not None else low
        high = getattr(m, "le", None) if getattr(m, "le", None) is not None else high
        high = getattr(m, "lt", None) if getattr(m, "lt", None) is not None else high
    rng = ""
    if low is not None or high is not None:
        lo = "-∞" if low is None else f"{low:g}"
        hi = "∞" if high is None else f"{high:g}"
        rng = f"{lo}..{hi} {unit}".strip()
    return unit, rng


def _within(field: str, sub: str) -> str:
    """The dotted path of ``sub`` (a field or ``[index]``) inside ``field``."""
    if field == "(top level)":
        return sub
    return f"{field}{sub}" if sub.startswith("[") else f"{field}.{sub}"


def format_validation_error(err: ValidationError, model: type[BaseModel], source: str,
                            kind: str = "facility file") -> str:
    """One line per problem: file, dotted field, value, unit, allowed range, reason.

    A :class:`FieldProblemsError` raised by a validator gives one line per problem it holds.
    """
    lines: list[str] = []
    for e in err.errors():
        loc = tuple(e["loc"])
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[") or "(top level)"
        cause = e.get("ctx", {}).get("error")
        if isinstance(cause, FieldProblemsError):
            lines.extend(f"  - {FieldProblem(_within(field, p.field), p.value, p.why, p.allowed)}"
                         for p in cause.problems)
            continue
        unit, rng = _field_meta(model, loc)
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}{(' ' + unit) if unit else ''}"
        allowed = f" (allowed {rng})" if rng else ""
        lines.append(f"  - field '{field}'{shown}: {e['msg']}{allowed}")
    return "\n".join([f"{source}: {len(lines)} problem(s) in the {kind}:", *lines])
