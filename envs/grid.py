"""China's grid emission factors and provincial time-of-use tariff templates, by name.

Two bundled data files, each figure with its source and year (``envs/data/grid/README.md``):

- ``grid_factors_cn.json``: location-based CO2 emission factors of electricity (t CO2/MWh) for
  the nation, the seven regional grids and 30 provinces: the 2022 factors of the Ministry of
  Ecology and Environment and the National Bureau of Statistics (published 2024-12-20), and the
  2022 national grid average of the national carbon market, 0.5703 t CO2/MWh (MEE, 2023), the
  project's default.
- ``tariffs_cn.json``: provincial peak/flat/valley templates for commercial and industrial users:
  per season, the hours of each period (尖峰 critical peak, 高峰 peak, 平段 flat, 低谷 valley,
  深谷 deep valley) and its price as a ratio of the flat price, with the provincial notice that
  sets them. A scenario brings its own flat price.

A name resolves by its slug (``guangdong``, ``north-china``), its Chinese name (``广东``,
``广东省``, ``华北``) or its English name (``Guangdong``, ``North China``), ignoring case, spaces,
hyphens and underscores; an unknown name is refused with the list of valid ones. The module is
pure data (standard library and pydantic): the simulator will read price and carbon as points
from it, and ``coolpilot.evaluation`` prices what-if runs with it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

GRID_DATA_DIR = Path(__file__).parent / "data" / "grid"
GRID_FACTORS_FILE = GRID_DATA_DIR / "grid_factors_cn.json"
TARIFFS_FILE = GRID_DATA_DIR / "tariffs_cn.json"
PERIOD_NAMES = ("critical_peak", "peak", "flat", "valley", "deep_valley")
"""Time-of-use periods, dearest first: 尖峰, 高峰, 平段, 低谷, 深谷."""
HOUR_RESOLUTION_H = 0.5
"""Every period boundary is a multiple of this (h): provincial notices use whole and half hours."""
SLOTS_PER_DAY = round(24 / HOUR_RESOLUTION_H)

PeriodName = Literal["critical_peak", "peak", "flat", "valley", "deep_valley"]


class GridDataError(ValueError):
    """An unknown grid-factor or tariff name, or a bundled data file that breaks its own rules."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Named(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Slug used in scenario files.")
    zh: str = Field(min_length=1, description="Chinese name.")
    en: str = Field(min_length=1, description="English name.")
    aliases: tuple[str, ...] = Field((), description="Other names that resolve to this entry.")

    def lookup_keys(self) -> set[str]:
        """Every normalized name this entry answers to."""
        return {_normalize(n) for n in (self.name, self.zh, self.en, *self.aliases)}


class Source(_Frozen):
    """Where a set of figures comes from."""

    title: str
    title_en: str
    issuer: str
    published: str = Field(description="Publication date (ISO, as precise as known).")
    describes_year: int = Field(ge=2000, le=2100, description="Year the figures describe.")
    method: str
    cross_checked: str = Field(description="Independent reports the figures were checked against.")
    not_included: str = ""


class GridFactor(_Named):
    """A location-based grid CO2 emission factor of electricity."""

    kind: Literal["national", "region", "province"]
    t_co2_per_mwh: float = Field(gt=0.0, lt=2.0, description="Emission factor (t CO2/MWh = kg CO2/kWh).")
    year: int = Field(ge=2000, le=2100, description="Year the factor describes.")
    source: str = Field(description="Key of its source in the file's 'sources'.")
    source_text: str = Field("", description="The source's title, issuer and publication date (filled at load).")

    @property
    def label(self) -> str:
        """'广东 Guangdong 0.4403 t CO2/MWh (2022)'."""
        return f"{self.zh} {self.en} {self.t_co2_per_mwh:g} t CO2/MWh ({self.year})"


class _FactorFile(_Frozen):
    about: str
    unit: Literal["t CO2/MWh"]
    default: str
    sources: dict[str, Source]
    factors: tuple[GridFactor, ...]


class Season(_Frozen):
    """The months a set of period hours and ratios applies in."""

    months: tuple[int, ...] = Field(min_length=1, description="Months 1-12.")
    periods: dict[PeriodName, tuple[tuple[float, float], ...]] = Field(
        description="Per period, its [start, end) hours of the day (local time, 0-24, no wrap past midnight).")
    ratios: dict[PeriodName, float] = Field(description="Per period, its price over the flat price.")

    @model_validator(mode="after")
    def _covers_the_day_once(self) -> Season:
        problems = []
        if self.periods.keys() != self.ratios.keys():
            problems.append(f"periods {sorted(self.periods)} and ratios {sorted(self.ratios)} name different periods")
        if self.ratios.get("flat") != 1.0:
            problems.append(f"the flat ratio is {self.ratios.get('flat')}, it must be 1 (ratios are over the flat "
                            "price)")
        slots = [0] * SLOTS_PER_DAY
        for name, spans in self.periods.items():
            for start, end in spans:
                if not (0.0 <= start < end <= 24.0):
                    problems.append(f"{name} hours [{start:g}, {end:g}) leave 0..24 h or are empty")
                    continue
                if any(abs(h / HOUR_RESOLUTION_H - round(h / HOUR_RESOLUTION_H)) > 1e-9 for h in (start, end)):
                    problems.append(f"{name} hours [{start:g}, {end:g}) are not on the {HOUR_RESOLUTION_H:g} h grid")
                    continue
                for k in range(round(start / HOUR_RESOLUTION_H), round(end / HOUR_RESOLUTION_H)):
                    slots[k] += 1
        doubled = [k * HOUR_RESOLUTION_H for k, n in enumerate(slots) if n > 1]
        missing = [k * HOUR_RESOLUTION_H for k, n in enumerate(slots) if n == 0]
        if doubled:
            problems.append(f"hours {doubled} belong to two periods")
        if missing:
            problems.append(f"hours {missing} belong to no period")
        if problems:
            raise ValueError(f"season of months {list(self.months)}: " + "; ".join(problems))
        return self


class TariffTemplate(_Named):
    """A provincial time-of-use template: hours and price ratios per season, and the notice that sets them."""

    document: str = Field(description="The provincial notice (number and title).")
    issuer: str
    effective: str = Field(description="When the notice took effect (ISO date or year).")
    year: int = Field(ge=2000, le=2100, description="Year of the notice.")
    applies_to: str = Field(description="Users the template is for.")
    seasons: tuple[Season, ...] = Field(min_length=1)
    ratio_rule: str = Field(description="The notice's ratios in words.")
    not_modelled: tuple[str, ...] = Field((), description="Parts of the notice the template leaves out.")
    source: str = Field(description="How the hours and ratios were taken.")
    cross_checked: str = Field(description="Independent reports they were checked against ('' if none).")
    demand_charge_per_kw_month: float | None = Field(
        None, ge=0.0, description="Basic charge per kW of maximum demand per month (currency/kW·month); carried "
                                  "as data, not priced by the KPIs.")
    capacity_charge_per_kva_month: float | None = Field(
        None, ge=0.0, description="Basic charge per kVA of transformer capacity per month (currency/kVA·month); "
                                  "carried as data, not priced by the KPIs.")

    @model_validator(mode="after")
    def _months_once(self) -> TariffTemplate:
        months = sorted(m for s in self.seasons for m in s.months)
        if months != list(range(1, 13)):
            raise ValueError(f"the seasons' months {months} must list each month 1..12 exactly once")
        return self

    @property
    def source_text(self) -> str:
        """The notice and its issuer, for reports."""
        return f"{self.document}, {self.issuer} ({self.year})"

    def season(self, month: int) -> Season:
        """The season of ``month`` (1-12)."""
        for s in self.seasons:
            if month in s.months:
                return s
        raise GridDataError(f"tariff template {self.name!r}: month {month} is not in 1..12")

    def period_at(self, month: int, hour: float) -> PeriodName:
        """The period at ``hour`` (0 <= hour < 24, local time) of a day in ``month``."""
        if not 0.0 <= hour < 24.0:
            raise GridDataError(f"hour = {hour:g} h is outside 0..24 h")
        for name, spans in self.season(month).periods.items():
            if any(start <= hour < end for start, end in spans):
                return name
        raise GridDataError(f"tariff template {self.name!r}: no period at {hour:g} h in month {month}")

    def ratio_at(self, month: int, hour: float) -> float:
        """Price over the flat price at ``hour`` of a day in ``month``."""
        return self.season(month).ratios[self.period_at(month, hour)]

    def ratio_table(self) -> tuple[tuple[float, ...], ...]:
        """Ratios by month (12 rows) and slot of :data:`HOUR_RESOLUTION_H` (48 columns), for vectorized pricing."""
        return tuple(tuple(self.ratio_at(month, k * HOUR_RESOLUTION_H) for k in range(SLOTS_PER_DAY))
                     for month in range(1, 13))

    def hours_by_period(self, month: int) -> dict[PeriodName, float]:
        """Hours of the day in each period in ``month``."""
        return {name: sum(end - start for start, end in spans) for name, spans in self.season(month).periods.items()}


class _TariffFile(_Frozen):
    about: str
    periods: dict[PeriodName, str]
    national_rule: str
    floating_share: str
    demand_charges: str
    not_shipped: str
    templates: tuple[TariffTemplate, ...]


def _normalize(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


def _read(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise GridDataError(f"{path}: cannot read the bundled grid data: {err}") from None


def _index(entries: tuple[_Named, ...], path: Path) -> dict[str, str]:
    """Normalized name -> slug; two entries answering to one name is an error in the file."""
    index: dict[str, str] = {}
    for e in entries:
        for key in e.lookup_keys():
            if index.get(key, e.name) != e.name:
                raise GridDataError(f"{path}: the name {key!r} belongs to both {index[key]!r} and {e.name!r}")
            index[key] = e.name
    return index


@cache
def _read_factor_file() -> _FactorFile:
    try:
        return _FactorFile.model_validate(_read(GRID_FACTORS_FILE))
    except ValidationError as err:
        raise GridDataError(f"{GRID_FACTORS_FILE}: {err}") from None


@cache
def _factors() -> tuple[dict[str, GridFactor], dict[str, str], str]:
    data = _read_factor_file()
    by_name = {}
    for f in data.factors:
        if f.source not in data.sources:
            raise GridDataError(f"{GRID_FACTORS_FILE}: factor {f.name!r} names an unknown source {f.source!r}")
        src = data.sources[f.source]
        by_name[f.name] = f.model_copy(update={"source_text": f"{src.title}, {src.issuer}, {src.published}"})
    if data.default not in by_name:
        raise GridDataError(f"{GRID_FACTORS_FILE}: the default {data.default!r} is not one of the factors")
    return by_name, _index(data.factors, GRID_FACTORS_FILE), data.default


@cache
def _tariffs() -> tuple[dict[str, TariffTemplate], dict[str, str]]:
    try:
        data = _TariffFile.model_validate(_read(TARIFFS_FILE))
    except ValidationError as err:
        raise GridDataError(f"{TARIFFS_FILE}: {err}") from None
    return {t.name: t for t in data.templates}, _index(data.templates, TARIFFS_FILE)


def factor_source(factor: GridFactor) -> Source:
    """The source of a grid factor (title in Chinese and English, issuer, publication date)."""
    data = _read_factor_file()
    return data.sources[factor.source]


def grid_factor_names() -> list[str]:
    """Slugs of every bundled grid factor: national figures, then regions, then provinces."""
    return list(_factors()[0])


def default_grid_factor() -> GridFactor:
    """The project's default factor: China's 2022 national grid average of the carbon market, 0.5703 t CO2/MWh."""
    by_name, _, default = _factors()
    return by_name[default]


def grid_factor(name: str) -> GridFactor:
    """The grid factor of a nation, region or province, by slug, Chinese or English name."""
    by_name, index, _ = _factors()
    slug = index.get(_normalize(name))
    if slug is None:
        raise GridDataError(f"unknown grid region {name!r}; use one of {', '.join(by_name)} (or their Chinese or "
                            "English names)")
    return by_name[slug]


def tariff_template_names() -> list[str]:
    """Slugs of every bundled tariff template."""
    return list(_tariffs()[0])


def tariff_template(name: str) -> TariffTemplate:
    """The time-of-use template of a province (or provincial grid), by slug, Chinese or English name."""
    by_name, index = _tariffs()
    slug = index.get(_normalize(name))
    if slug is None:
        raise GridDataError(f"unknown tariff template {name!r}; use one of {', '.join(by_name)} (or their Chinese or "
                            "English names)")
    return by_name[slug]


__all__ = [
    "GRID_DATA_DIR", "HOUR_RESOLUTION_H", "PERIOD_NAMES", "GridDataError", "GridFactor", "Season", "Source",
    "TariffTemplate", "default_grid_factor", "factor_source", "grid_factor", "grid_factor_names", "tariff_template",
    "tariff_template_names",
]
