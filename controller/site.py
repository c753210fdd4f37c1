"""The site file of ``coolpilot serve``: facility, model, fallback, adapter, safety limits, mode, API, audit.

Example (``examples/site.yaml``)::

    name: hall-a
    facility: modern-hall                 # preset or facility YAML (relative to this file): the contract
    model: ../models/modern-hall-ppo      # bundle folder, relative to this file, or a shipped bundle by name
    fallback_policy: rule-based           # rule-based | legacy | none
    mode: shadow                          # the mode at first start (later: the last recorded mode)
    period_s: 300
    adapter:
      kind: mqtt
      mqtt: {host: 127.0.0.1, port: 1883, prefix: coolpilot/hall-a}
    safety: {guard_c: 26.0, limit_c: 27.0}
    api: {host: 127.0.0.1, port: 8080, token_env: COOLPILOT_TOKEN}
    audit: {path: coolpilot-audit.sqlite}
    drift: {facility: calibrated-site.yaml, on_drift: fallback}   # optional: the calibrated twin beside the plant

**The facility determines the contract** (``coolpilot.envs.contract``, contract version 2: its
equipment blocks' points and setpoints). The adapter's maps (MQTT names, Modbus registers,
BACnet objects) default to every name of the contract and may name only the contract's; a site
may map only some setpoints (the others are never written: the plant's own sequence runs them)
and only some points, but every point the safety envelope needs (:data:`coolpilot.controller.safety.
CRITICAL_POINTS`) must be mapped, and the service refuses a policy whose points are not
(naming them). The ``safety`` section names only the contract's setpoints. Without
``facility`` the contract is the core block's (20 points, 4 setpoints: contract version 1), as
site files written before contract version 2 meant.

Loading validates everything and refuses a bad file with one line per problem naming the
file, the field, the value, its unit and the allowed range. Relative paths are resolved
against the site file's folder; ``model`` may also name a shipped bundle (``model: modern-hall-ppo``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, model_validator

from coolpilot.controller.drift import DriftSettings
from coolpilot.controller.policies.bundles import find_bundle
from coolpilot.controller.protocols.bacnet import BacnetSettings
from coolpilot.controller.protocols.contract_maps import context_contract
from coolpilot.controller.protocols.modbus import ModbusSettings
from coolpilot.controller.protocols.mqtt import MqttSettings
from coolpilot.controller.safety import CRITICAL_POINTS, SafetyLimits
from coolpilot.envs.config import FacilityConfig, FacilityConfigError, load_facility
from coolpilot.envs.contract import CORE_CONTRACT, Contract
from coolpilot.envs.validation import format_validation_error, read_yaml

MODES = ("shadow", "active", "fallback", "off")
Mode = Literal["shadow", "active", "fallback", "off"]


class SiteConfigError(ValueError):
    """A site file is invalid; the message lists every problem."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CsvSettings(_Section):
    """CSV replay of recorded points (offline dry runs)."""

    path: str = Field(description="CSV file with one column per contract point (and time_s).")


class AdapterSection(_Section):
    """How the service reaches the plant."""

    kind: Literal["mqtt", "modbus", "bacnet", "csv"] = Field(
        "mqtt", description="Adapter: mqtt, modbus (Modbus TCP), bacnet (BACnet/IP) or csv (replay).")
    mqtt: MqttSettings | None = Field(None, description="MQTT broker, credentials, TLS and topic prefix.")
    modbus: ModbusSettings | None = Field(None, description="Modbus TCP device and register map.")
    bacnet: BacnetSettings | None = Field(None, description="BACnet/IP device, object map and write priority.")
    csv: CsvSettings | None = Field(None, description="CSV replay settings.")

    @model_validator(mode="after")
    def _settings_for_kind(self) -> AdapterSection:
        needs = {"mqtt": "adapter.mqtt (host, port, prefix)", "modbus": "adapter.modbus (host, port; register "
                 "map optional)", "bacnet": "adapter.bacnet (device_address; object map optional)",
                 "csv": "adapter.csv.path"}
        if getattr(self, self.kind) is None:
            raise ValueError(f"adapter.kind is {self.kind}: give {needs[self.kind]}")
        others = [k for k in needs if k != self.kind and getattr(self, k) is not None]
        if others:
            raise ValueError(f"adapter.kind is {self.kind}, but settings for {', '.join(others)} are also given: "
                             f"remove them or change adapter.kind")
        mapped = self.point_names
        missing = [n for n in CRITICAL_POINTS if mapped is not None and n not in mapped]
        if missing:
            raise ValueError(f"{self.kind}.points: the safety envelope needs points {missing}, which the map leaves "
                             "out; map them")
        return self

    @property
    def settings(self) -> MqttSettings | ModbusSettings | BacnetSettings | None:
        """The protocol settings of :attr:`kind` (None for a CSV replay)."""
        return None if self.kind == "csv" else getattr(self, self.kind)

    @property
    def point_names(self) -> tuple[str, ...] | None:
        """The points the site's map reads (None for a CSV replay: whichever of its columns are points)."""
        settings = self.settings
        return None if settings is None else settings.point_names

    @property
    def setpoint_names(self) -> tuple[str, ...] | None:
        """The setpoints the site's map writes (None for a CSV replay: it records every write)."""
        settings = self.settings
        return None if settings is None else settings.setpoint_names


class ApiSection(_Section):
    """The HTTP API (FastAPI)."""

    enabled: bool = Field(True, description="Serve the HTTP API.")
    host: str = Field("127.0.0.1", description="Bind address; loopback unless deliberately opened.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 = any free port).")
    token: str | None = Field(None, min_length=16, description="Bearer token for mutating endpoints "
                                                               "(prefer token_env).")
    token_env: str | None = Field("COOLPILOT_TOKEN", description="Environment variable holding the token.")

    def resolve_token(self) -> str | None:
        """The token from the file or the environment (None: mutating endpoints are refused)."""
        if self.token:
            return self.token
        value = os.environ.get(self.token_env or "", "")
        return value or None


class AuditSection(_Section):
    """Where decisions are recorded (SQLite, WAL)."""

    path: str = Field("coolpilot-audit.sqlite", description="SQLite file of the audit trail.")


class SiteConfig(_Section):
    """One controlled site."""

    name: str = Field("site", min_length=1, description="Site name (logs, metrics, audit).")
    facility: str | None = Field(
        None, min_length=1,
        description="The site's facility: a bundled preset (coolpilot presets) or a facility YAML file, relative to "
                    "this file. Its equipment determines the contract: the points read, the setpoints written and "
                    "the safety envelope's rules per setpoint. None: the core block (20 points, 4 setpoints).")
    model: str | None = Field(None, description="Policy bundle folder (policy.onnx + card.json) or a shipped bundle "
                                                "by name (coolpilot models); none = the fallback policy decides.")
    fallback_policy: Literal["rule-based", "legacy", "none"] = Field(
        "rule-based", description="Policy used when the model fails or is distrusted; none = relinquish.")
    mode: Mode = Field("shadow", description="Mode at first start; afterwards the last recorded mode is kept.")
    period_s: float = Field(300.0, ge=0.01, le=3600.0, description="Control period.",
                            json_schema_extra={"unit": "s"})
    rate_period_s: float | None = Field(
        None, gt=0.0, le=3600.0, json_schema_extra={"unit": "s"},
        description="Plant time one cycle stands for, over which rate limits apply (default period_s); set it "
                    "to the twin's step when running against a simulated plant in accelerated time.")
    model_timeout_s: float = Field(1.0, gt=0.0, le=60.0, description="Inference time allowed per decision.",
                                   json_schema_extra={"unit": "s"})
    model_unhealthy_after: int = Field(
        3, ge=1, le=100, json_schema_extra={"unit": "timeouts"},
        description="Inference timeouts in a row after which the model is marked unhealthy: it is no longer "
                    "called and the fallback ladder (hold, fallback policy, relinquish) decides until a model "
                    "is reloaded.")
    fallback_action: Literal["relinquish", "safe_setpoints"] = Field(
        "relinquish", description="In fallback mode: hand control back to the BMS, or write the safe setpoints.")
    relinquish_on_shutdown: bool = Field(True, description="Hand all setpoints back to the BMS on shutdown.")
    adapter: AdapterSection = Field(description=AdapterSection.__doc__)
    safety: SafetyLimits = Field(default_factory=SafetyLimits, description="Safety envelope limits.")
    api: ApiSection = Field(default_factory=ApiSection, description=ApiSection.__doc__)
    audit: AuditSection = Field(default_factory=AuditSection, description=AuditSection.__doc__)
    drift: DriftSettings | None = Field(None, description=DriftSettings.__doc__)

    _contract: Contract = PrivateAttr(default=CORE_CONTRACT)

    @property
    def contract(self) -> Contract:
        """The contract of the site's facility (the core block's without one)."""
        return self._contract

    @model_validator(mode="before")
    @classmethod
    def _safety_for_the_contract(cls, data: Any) -> Any:
        """The safety section is validated (against the context's contract) even when the file leaves it out."""
        if isinstance(data, dict) and "safety" not in data:
            return {**data, "safety": {}}
        return data

    @model_validator(mode="after")
    def _keep_the_contract(self, info: ValidationInfo) -> SiteConfig:
        self._contract = context_contract(info) or CORE_CONTRACT
        return self


def facility_of(site: SiteConfig) -> FacilityConfig | None:
    """The site's facility (None without one: the core block's contract)."""
    return None if site.facility is None else load_facility(site.facility)


def _facility_contract(data: dict[str, Any], source: str, base: Path) -> tuple[str | None, Contract]:
    """The ``facility`` field resolved (a file relative to the site file, else a preset) and its contract."""
    name = data.get("facility")
    if name is None:
        return None, CORE_CONTRACT
    if not isinstance(name, str) or not name:
        raise SiteConfigError(f"{source}: 1 problem(s) in the site file:\n  - field 'facility' = {name!r}: a preset "
                              "name or a facility YAML file is needed")
    path = Path(name).expanduser()
    local = path if path.is_absolute() else base / path
    resolved = str(local) if local.is_file() else name
    try:
        return resolved, load_facility(resolved).contract
    except FacilityConfigError as err:
        raise SiteConfigError(f"{source}: 1 problem(s) in the site file:\n  - field 'facility' = {name!r}: "
                              f"{err}") from None


def site_from_mapping(data: Any, source: str = "<mapping>", base_dir: Path | None = None) -> SiteConfig:
    """Validate a mapping into a :class:`SiteConfig`, resolving relative paths against ``base_dir``.

    The ``facility`` is read first: its contract is what the adapter's maps and the safety
    section are validated against.
    """
    if not isinstance(data, dict):
        raise SiteConfigError(f"{source}: a site file must be a YAML mapping, got {type(data).__name__}")
    base = base_dir or Path.cwd()
    facility, contract = _facility_contract(data, source, base)
    try:
        site = SiteConfig.model_validate(data, context={"contract": contract})
    except ValidationError as err:
        raise SiteConfigError(format_validation_error(err, SiteConfig, source, "site file")) from None

    def resolve(path: str) -> str:
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else (base / p))

    updates: dict[str, Any] = {"audit": site.audit.model_copy(update={"path": resolve(site.audit.path)}),
                               "facility": facility}
    if site.model is not None:
        found = find_bundle(site.model, (base,))  # a folder relative to the site file, else a shipped bundle
        updates["model"] = str(found) if found is not None else resolve(site.model)
    if site.adapter.csv is not None:
        csv = site.adapter.csv.model_copy(update={"path": resolve(site.adapter.csv.path)})
        updates["adapter"] = site.adapter.model_copy(update={"csv": csv})
    if site.drift is not None:
        updates["drift"] = _drift_facility(site, facility, contract, source, base)
    return site.model_copy(update=updates)


def _drift_facility(site: SiteConfig, facility: str | None, contract: Contract, source: str, base: Path
                    ) -> DriftSettings:
    """The drift section with its facility resolved (default the site's), checked to have the site's contract, and
    the points the monitor needs checked to be mapped."""
    assert site.drift is not None
    drift = site.drift

    def problem(what: str) -> SiteConfigError:
        return SiteConfigError(f"{source}: 1 problem(s) in the site file:\n  - field 'drift{what}")

    name = drift.facility
    if name is None and facility is None:
        raise problem(".facility': the drift monitor runs the site's calibrated twin: give drift.facility (the "
                      "calibrated facility YAML from coolpilot calibrate) or the site's facility")
    resolved = facility
    if name is not None:
        path = Path(name).expanduser()
        local = path if path.is_absolute() else base / path
        resolved = str(local) if local.is_file() else name
        try:
            twin_contract = load_facility(resolved).contract
        except FacilityConfigError as err:
            raise problem(f".facility' = {name!r}: {err}") from None
        if twin_contract.fingerprint != contract.fingerprint:
            raise problem(f".facility' = {name!r}: its contract is not the site's (points "
                          f"{list(twin_contract.point_names)}, setpoints {list(twin_contract.setpoint_names)}; the "
                          f"site's: points {list(contract.point_names)}, setpoints {list(contract.setpoint_names)})")
    mapped = site.adapter.point_names
    missing = [n for n in drift.needed_points() if mapped is not None and n not in mapped]
    if mapped is not None and not {"outdoor_wetbulb_c", "outdoor_rh_pct"} & set(mapped):
        missing.append("outdoor_wetbulb_c or outdoor_rh_pct")
    if missing:
        raise problem(f".points': the drift monitor reads {missing}, which the site's adapter.{site.adapter.kind} "
                      "map leaves out; map them")
    return drift.model_copy(update={"facility": resolved})


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site YAML file."""
    p = Path(path)
    return site_from_mapping(read_yaml(p, "site file", SiteConfigError), str(p), p.parent)
