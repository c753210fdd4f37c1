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
hyphens and underscores; an unknown name is refused with the list of valid ones.

Two more things a grid scenario needs, each an hourly year (hour 0 = 1 January 00:00 local standard time):

- **BOPTEST's price archetypes** (``tariffs_boptest.json``, :func:`archetype_prices_per_mwh`):
  ``constant``, ``dynamic`` (day/night time of use) and ``highly_dynamic`` (spot-like), with the
  figures of BOPTEST's testcase ``multizone_office_complex_air`` (ComEd's Chicago tariffs; the
  hourly spot-like year ships as ``boptest_highly_dynamic_chicago.csv``, its sha256 checked at load).
- **A synthetic grid-carbon profile for a solar-heavy grid** (:func:`solar_carbon_profile`): the
  hourly intensity of a grid whose PV would supply ``solar_share`` of a flat demand over the year,
  its output following the climate's global horizontal irradiance. What it is: average (not
  marginal) intensity with solar displacing the rest of the mix pro rata, the rest at one constant
  intensity, PV beyond demand curtailed, scaled so the year's mean is the given factor (a region's
  published annual factor keeps its meaning; only its timing changes). What it is not: a dispatch
  model (no merit order, must-run units, wind, hydro seasons, imports or demand shape), nor a
  forecast of any real grid. Irradiance is read through :func:`climate_ghi_w_m2`.

The module holds data and the small numpy constructions on it: the simulator reads price and
carbon as points built from it, and ``coolpilot.evaluation`` prices what-if runs with it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coolpilot.envs.units import HOURS_PER_YEAR

GRID_DATA_DIR = Path(__file__).parent / "data" / "grid"
GRID_FACTORS_FILE = GRID_DATA_DIR / "grid_factors_cn.json"
TARIFFS_FILE = GRID_DATA_DIR / "tariffs_cn.json"
ARCHETYPES_FILE = GRID_DATA_DIR / "tariffs_boptest.json"
ARCHETYPE_NAMES = ("constant", "dynamic", "highly_dynamic")
"""BOPTEST's electricity price scenarios, by the names its ``/scenario`` API takes."""
N_HOURS = int(HOURS_PER_YEAR)
PERIOD_NAMES = ("critical_peak", "peak", "flat", "valley", "deep_valley")
"""Time-of-use periods, dearest first: 尖峰, 高峰, 平段, 低谷, 深谷."""
HOUR_RESOLUTION_H = 0.5
"""Every period boundary is a multiple of this (h): provincial notices use whole and half hours."""
SLOTS_PER_DAY = round(24 / HOUR_RESOLUTION_H)

PeriodName = Literal["critical_peak", "peak", "flat", "valley", "deep_valley"]
ArchetypeName = Literal["constant", "dynamic", "highly_dynamic"]


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


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
HOUR_MONTH = np.repeat(np.repeat(np.arange(1, 13), _MONTH_DAYS), 24)
"""Month (1-12) of each hour of the 365-day year."""
HOUR_OF_DAY = np.tile(np.arange(24), N_HOURS // 24)
"""Hour of the day (0-23) of each hour of the year."""


class DynamicSeason(_Frozen):
    """The months a set of ComEd RTOUPP retail charges applies in."""

    months: tuple[int, ...] = Field(min_length=1)
    retail_per_mwh: dict[str, float] = Field(description="Retail purchased-electricity charge per period "
                                                         "(currency/MWh).")


class TariffArchetype(_Frozen):
    """One of BOPTEST's price scenarios, as its testcase defines it."""

    name: ArchetypeName
    description: str
    price_per_mwh: float | None = Field(None, gt=0.0, description="constant: the price (currency/MWh).")
    components_per_mwh: dict[str, float] = Field(default_factory=dict, description="constant: the charges summed.")
    adders_per_mwh: float | None = Field(None, ge=0.0, description="dynamic: charges added to every period's "
                                                                   "retail charge (currency/MWh).")
    seasons: tuple[DynamicSeason, ...] = ()
    periods: dict[str, tuple[tuple[float, float], ...]] = Field(default_factory=dict,
                                                                description="dynamic: [start, end) hours per period.")
    hourly_csv: str | None = Field(None, description="highly_dynamic: file of 8760 hourly prices (currency/MWh).")
    sha256: str | None = None


class _ArchetypeFile(_Frozen):
    about: str
    currency: str
    reference_price_per_mwh: float = Field(gt=0.0)
    source: dict[str, str]
    archetypes: tuple[TariffArchetype, ...]


@cache
def _archetype_file() -> _ArchetypeFile:
    try:
        data = _ArchetypeFile.model_validate(_read(ARCHETYPES_FILE))
    except ValidationError as err:
        raise GridDataError(f"{ARCHETYPES_FILE}: {err}") from None
    if tuple(a.name for a in data.archetypes) != ARCHETYPE_NAMES:
        raise GridDataError(f"{ARCHETYPES_FILE}: archetypes must be {ARCHETYPE_NAMES} in that order")
    return data


def tariff_archetype(name: str) -> TariffArchetype:
    """BOPTEST's price scenario ``name`` (``constant``, ``dynamic`` or ``highly_dynamic``) with its source text."""
    for a in _archetype_file().archetypes:
        if a.name == name:
            return a
    raise GridDataError(f"unknown tariff archetype {name!r}; use one of {', '.join(ARCHETYPE_NAMES)}")


def archetype_source() -> str:
    """Where the archetypes' figures come from, for reports."""
    src = _archetype_file().source
    return (f"BOPTEST testcase multizone_office_complex_air ({src['repository']} at {src['commit'][:10]}), "
            f"{src['tariffs']}")


def archetype_reference_price_per_mwh() -> float:
    """The ``constant`` archetype's price (currency/MWh): a scenario's price scales every archetype by it."""
    return _archetype_file().reference_price_per_mwh


def _dynamic_prices(a: TariffArchetype) -> np.ndarray:
    """Hourly prices of the day/night archetype: per hour, the adders plus its season's retail charge of its
    period; every hour of the day must belong to exactly one period."""
    by_hour: dict[int, str] = {}
    for period, spans in a.periods.items():
        for start, end in spans:
            for h in range(math.floor(start), math.ceil(end)):
                if h in by_hour:
                    raise GridDataError(f"{ARCHETYPES_FILE}: dynamic hour {h} is in {by_hour[h]!r} and {period!r}")
                by_hour[h] = period
    if sorted(by_hour) != list(range(24)):
        raise GridDataError(f"{ARCHETYPES_FILE}: dynamic periods cover hours {sorted(by_hour)}, not 0..23")
    month_table = np.zeros((13, 24))
    for season in a.seasons:
        for month in season.months:
            for h, period in by_hour.items():
                month_table[month, h] = (a.adders_per_mwh or 0.0) + season.retail_per_mwh[period]
    if sorted(m for season in a.seasons for m in season.months) != list(range(1, 13)):
        raise GridDataError(f"{ARCHETYPES_FILE}: the dynamic seasons must list each month 1..12 once")
    return month_table[HOUR_MONTH, HOUR_OF_DAY]


def _hourly_file_prices(a: TariffArchetype) -> np.ndarray:
    path = GRID_DATA_DIR / str(a.hourly_csv)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise GridDataError(f"{path}: cannot read the bundled prices: {err.strerror}") from None
    if hashlib.sha256(raw).hexdigest() != a.sha256:
        raise GridDataError(f"{path}: sha256 differs from {ARCHETYPES_FILE.name}'s: the bundled file was changed")
    lines = raw.decode("utf-8").split()
    try:
        values = np.array([float(v) for v in lines[1:]])
    except ValueError as err:
        raise GridDataError(f"{path}: {err}") from None
    if values.shape != (N_HOURS,) or not np.all(np.isfinite(values)) or values.min() < 0.0:
        raise GridDataError(f"{path}: needs {N_HOURS} finite prices ≥ 0 (currency/MWh), one per hour")
    return values


@cache
def _archetype_prices(name: str) -> np.ndarray:
    a = tariff_archetype(name)
    if a.name == "constant":
        prices = np.full(N_HOURS, float(a.price_per_mwh or 0.0))
    elif a.name == "dynamic":
        prices = _dynamic_prices(a)
    else:
        prices = _hourly_file_prices(a)
    prices.setflags(write=False)
    return prices


def archetype_prices_per_mwh(name: str, price_per_mwh: float | None = None) -> np.ndarray:
    """BOPTEST price scenario ``name`` for every hour of the year (currency/MWh, 8760 values).

    With ``price_per_mwh`` every hour is scaled by it over BOPTEST's constant price (94 USD/MWh),
    so a site's own price level keeps the archetype's shape: ``constant`` is then that price, and
    ``dynamic`` and ``highly_dynamic`` keep their ratios to it.
    """
    prices = _archetype_prices(name)
    if price_per_mwh is None:
        return prices
    if not (math.isfinite(price_per_mwh) and price_per_mwh >= 0.0):
        raise GridDataError(f"price_per_mwh = {price_per_mwh} currency/MWh: must be finite and ≥ 0")
    return prices * (price_per_mwh / archetype_reference_price_per_mwh())


EPW_GHI_COLUMN = 14
"""EPW field 14: global horizontal radiation, Wh/m² over the hour ending at the row's time (= mean W/m²)."""
_EPW_HEADER_LINES = 8
_EPW_MISSING_GHI = 9999.0
GHI_MAX_W_M2 = 1500.0
"""Largest hourly GHI accepted from a file (W/m²; the solar constant is 1361 W/m²)."""
HAURWITZ_A_W_M2 = 1098.0
"""Haurwitz (1945) clear-sky model GHI = 1098 cos z exp(-0.057 / cos z) W/m² (Reno et al. 2012, SAND2012-2389)."""


def read_epw_ghi(path: str | Path) -> np.ndarray:
    """Hourly global horizontal irradiance (W/m², 8760 values, 29 February dropped) from an EPW file (or .gz).

    Row ``i`` is the mean over hour ``[i, i + 1)`` h of the year. Missing values (9999) are filled by
    linear interpolation in time; a file with more than 5 % missing, a value outside 0..1500 W/m² or
    a row count that is not a year is refused naming the file, line, field, value, unit and range.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("latin-1")
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise GridDataError(f"{p}: cannot read the weather file's irradiance: {err}") from None
    values: list[float] = []
    for line_no, line in enumerate(text.splitlines()[_EPW_HEADER_LINES:], start=_EPW_HEADER_LINES + 1):
        parts = line.split(",")
        if len(parts) < EPW_GHI_COLUMN:
            if line.strip():
                raise GridDataError(f"{p} line {line_no}: {len(parts)} fields, field {EPW_GHI_COLUMN} (global "
                                    "horizontal radiation) is missing")
            continue
        if parts[1].strip() == "2" and parts[2].strip() == "29":
            continue
        try:
            v = float(parts[EPW_GHI_COLUMN - 1])
        except ValueError:
            raise GridDataError(f"{p} line {line_no}: field 'global horizontal radiation' = "
                                f"{parts[EPW_GHI_COLUMN - 1]!r} is not a number (Wh/m²)") from None
        if v != _EPW_MISSING_GHI and not 0.0 <= v <= GHI_MAX_W_M2:
            raise GridDataError(f"{p} line {line_no}: field 'global horizontal radiation' = {v:g} Wh/m² is outside "
                                f"the allowed range 0..{GHI_MAX_W_M2:g} Wh/m²")
        values.append(v)
    if len(values) != N_HOURS:
        raise GridDataError(f"{p}: {len(values)} hourly rows (29 February dropped), a year has {N_HOURS}")
    ghi = np.array(values)
    missing = ghi == _EPW_MISSING_GHI
    if missing.mean() > 0.05:
        raise GridDataError(f"{p}: global horizontal radiation is missing (9999) in {missing.mean():.1%} of hours, "
                            "at most 5 % can be filled")
    if missing.any():
        hours = np.arange(N_HOURS)
        ghi[missing] = np.interp(hours[missing], hours[~missing], ghi[~missing])
    return ghi


def clear_sky_ghi_w_m2(latitude_deg: float, longitude_deg: float, timezone_h: float) -> np.ndarray:
    """Clear-sky GHI (W/m², 8760 values, at each hour's middle, local standard time) by Haurwitz's model.

    Sun position: Cooper's (1969) declination, Spencer's (1971) equation of time, the hour angle
    from local standard time corrected to solar time by the longitude's offset from the time zone's
    meridian (Duffie & Beckman, Solar Engineering of Thermal Processes, 4th ed., sections 1.5-1.6).
    """
    hours = np.arange(N_HOURS) + 0.5
    day = np.floor(hours / 24.0) + 1.0
    b = 2.0 * np.pi * (day - 1.0) / 365.0
    eot_min = 229.2 * (0.000075 + 0.001868 * np.cos(b) - 0.032077 * np.sin(b) - 0.014615 * np.cos(2 * b)
                       - 0.04089 * np.sin(2 * b))
    solar_h = np.mod(hours, 24.0) + (4.0 * (longitude_deg - 15.0 * timezone_h) + eot_min) / 60.0
    omega = np.radians(15.0 * (solar_h - 12.0))
    decl = np.radians(23.45 * np.sin(2.0 * np.pi * (284.0 + day) / 365.0))
    lat = np.radians(latitude_deg)
    cos_z = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(omega)
    up = cos_z > 0.0
    ghi = np.zeros(N_HOURS)
    ghi[up] = HAURWITZ_A_W_M2 * cos_z[up] * np.exp(-0.057 / cos_z[up])
    return ghi


@cache
def climate_ghi_w_m2(climate: str) -> np.ndarray:
    """Hourly global horizontal irradiance (W/m², 8760 values, row i = hour [i, i + 1)) of a climate.

    The one accessor for irradiance here: the climate's :class:`coolpilot.envs.weather.Weather`
    field ``ghi_w_m2`` where it has one; else field 14 of its EPW file; else (a synthetic climate
    generated from monthly normals, which has no irradiance) Haurwitz's clear-sky GHI at its
    station, so its profile has no cloudy days.
    """
    from coolpilot.envs.weather import load_climate

    weather = load_climate(climate)
    ghi = getattr(weather, "ghi_w_m2", None)
    if ghi is not None:
        values = np.asarray(ghi, dtype=np.float64)
    elif Path(weather.source).is_file():
        values = read_epw_ghi(weather.source)
    else:
        values = clear_sky_ghi_w_m2(weather.latitude_deg, weather.longitude_deg, weather.timezone_h)
    values = np.array(values, dtype=np.float64)
    values.setflags(write=False)
    return values


def solar_carbon_profile(ghi_w_m2: np.ndarray, mean_t_per_mwh: float, solar_share: float) -> np.ndarray:
    """Hourly grid intensity (t CO2/MWh) of a grid whose PV would supply ``solar_share`` of a flat demand.

    PV output follows GHI (``ghi / mean(ghi)`` is its ratio to the year's mean); the rest of the
    mix meets the remaining demand, ``max(1 − solar_share × ghi / mean(ghi), 0)`` of it (PV beyond
    demand is curtailed), at one intensity chosen so the year's mean is ``mean_t_per_mwh``:
    ``intensity = mean × rest / mean(rest)``. See the module docstring for what it is and is not.
    """
    ghi = np.asarray(ghi_w_m2, dtype=np.float64)
    if ghi.shape != (N_HOURS,) or not np.all(np.isfinite(ghi)) or ghi.min() < 0.0 or ghi.max() <= 0.0:
        raise GridDataError(f"ghi_w_m2: needs {N_HOURS} finite values ≥ 0 W/m², some above 0")
    if not (math.isfinite(solar_share) and 0.0 < solar_share <= 1.0):
        raise GridDataError(f"solar_share = {solar_share}: must be in (0, 1] (share of the year's demand)")
    if not (math.isfinite(mean_t_per_mwh) and 0.0 <= mean_t_per_mwh <= 2.0):
        raise GridDataError(f"mean_t_per_mwh = {mean_t_per_mwh} t CO2/MWh: must be in 0..2 t CO2/MWh")
    rest = np.maximum(1.0 - solar_share * ghi / ghi.mean(), 0.0)
    return mean_t_per_mwh * rest / rest.mean()


def solar_carbon_profile_of_climate(climate: str, mean_t_per_mwh: float, solar_share: float) -> np.ndarray:
    """:func:`solar_carbon_profile` on the irradiance of ``climate`` (a bundled name or an EPW path)."""
    return solar_carbon_profile(climate_ghi_w_m2(climate), mean_t_per_mwh, solar_share)


__all__ = [
    "ARCHETYPE_NAMES", "GRID_DATA_DIR", "HOUR_RESOLUTION_H", "PERIOD_NAMES", "GridDataError", "GridFactor", "Season",
    "Source", "TariffArchetype", "TariffTemplate", "archetype_prices_per_mwh", "archetype_reference_price_per_mwh",
    "archetype_source", "clear_sky_ghi_w_m2", "climate_ghi_w_m2", "default_grid_factor", "factor_source",
    "grid_factor", "grid_factor_names", "read_epw_ghi", "solar_carbon_profile", "solar_carbon_profile_of_climate",
    "tariff_archetype", "tariff_template", "tariff_template_names",
]
