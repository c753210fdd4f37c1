"""The MQTT topic map both ends share: broker settings, credentials, TLS and the topic of every name.

:class:`MqttSettings` (``adapter.mqtt`` of a site file) is read by the client adapter
(:mod:`coolpilot.controller.adapters.mqtt`, which documents the topic layout and payloads) and by the
plant twin (:class:`coolpilot.controller.twin.plant.PlantTwin`), which publishes the points and takes
the setpoints on the same topics. ``points`` and ``setpoints`` list the names the site reads and
writes: by default every name of the site's facility contract (without a contract, the core
block's); a site may leave setpoints out
(never written: the plant's own sequence runs them) and points the service does not need
(:mod:`coolpilot.controller.protocols.contract_maps`). This module imports no protocol library, so a site file
parses without paho-mqtt.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from coolpilot.controller.protocols.contract_maps import (
    check_names,
    context_contract,
    with_contract_defaults,
)
from coolpilot.envs.contract import CORE_CONTRACT, Contract


def _check_topic(topic: str, what: str) -> str:
    if not topic or topic.startswith("/") or topic.endswith("/") or "+" in topic or "#" in topic:
        raise ValueError(f"{what} {topic!r} must be a non-empty MQTT topic without wildcards (+, #) "
                         "or leading/trailing '/'")
    return topic


class MqttTls(BaseModel):
    """TLS to the broker (files in PEM); without ``ca_file`` the system's CAs are trusted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_file: str | None = Field(None, description="CA certificate(s) that signed the broker's certificate.")
    cert_file: str | None = Field(None, description="Client certificate, for brokers that require one.")
    key_file: str | None = Field(None, description="Private key of the client certificate.")
    insecure: bool = Field(False, description="Skip the broker hostname check (test setups only).")


class MqttSettings(BaseModel):
    """Broker address, credentials, TLS, topics and timing of the MQTT adapter (``adapter.mqtt``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port (8883 is usual with TLS).")
    client_id: str | None = Field(None, description="MQTT client id; default coolpilot-<random>, so two "
                                                    "instances never take over each other's session.")
    username: str | None = Field(None, description="User name, if the broker requires one.")
    password: SecretStr | None = Field(None, description="Password (prefer password_env).")
    password_env: str | None = Field(None, description="Environment variable holding the password.")
    tls: MqttTls | None = Field(None, description="TLS settings; none = plain TCP.")
    prefix: str = Field("coolpilot/site", description="Topic prefix: {prefix}/points/NAME, {prefix}/setpoints/NAME.")
    points: tuple[str, ...] = Field(
        CORE_CONTRACT.point_names,
        description="Points read (default: every point of the site's facility contract; without one the core block's).")
    setpoints: tuple[str, ...] = Field(
        CORE_CONTRACT.setpoint_names,
        description="Setpoints written (default: every setpoint of the site's facility contract; without one the core "
                    "block's); the others are never written: the plant's own sequence runs them.")
    point_topics: dict[str, str] = Field(default_factory=dict,
                                         description="Topic per point name, overriding the prefix layout.")
    setpoint_topics: dict[str, str] = Field(default_factory=dict,
                                            description="Topic per setpoint name, overriding the prefix layout.")
    qos: Literal[0, 1, 2] = Field(1, description="QoS of subscriptions and setpoint writes (1: PUBACK confirms).")
    timeout_s: float = Field(5.0, gt=0.0, le=120.0, json_schema_extra={"unit": "s"},
                             description="Longest wait for connecting, or for the broker to confirm a write.")
    keepalive_s: int = Field(30, ge=5, le=65535, json_schema_extra={"unit": "s"},
                             description="MQTT keepalive: a dead broker is noticed within about 1.5× this.")
    reconnect_min_s: int = Field(1, ge=1, le=60, json_schema_extra={"unit": "s"},
                                 description="First delay before reconnecting after a loss (doubles each try).")
    reconnect_max_s: int = Field(30, ge=1, le=3600, json_schema_extra={"unit": "s"},
                                 description="Longest delay between reconnection attempts.")
    initial_wait_s: float = Field(1.0, ge=0.0, le=60.0, json_schema_extra={"unit": "s"},
                                  description="connect() waits up to this long for the retained value of every "
                                              "point, so the first read is complete.")

    @field_validator("prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        return _check_topic(value, "prefix")

    @model_validator(mode="before")
    @classmethod
    def _contract_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        return with_contract_defaults(data, info, {"points": _point_names, "setpoints": _setpoint_names})

    @field_validator("points")
    @classmethod
    def _known_points(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        check_names("point", value, context_contract(info))
        return value

    @field_validator("setpoints")
    @classmethod
    def _known_setpoints(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        check_names("setpoint", value, context_contract(info))
        return value

    @field_validator("point_topics")
    @classmethod
    def _valid_point_topics(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        check_names("point", value, context_contract(info))
        for name, topic in value.items():
            _check_topic(topic, f"topic of point {name}")
        return value

    @field_validator("setpoint_topics")
    @classmethod
    def _valid_setpoint_topics(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        check_names("setpoint", value, context_contract(info))
        for name, topic in value.items():
            _check_topic(topic, f"topic of setpoint {name}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(f"reconnect_max_s = {self.reconnect_max_s} s is below reconnect_min_s = "
                             f"{self.reconnect_min_s} s")
        unread = sorted(set(self.point_topics) - set(self.points)) + sorted(set(self.setpoint_topics) -
                                                                           set(self.setpoints))
        if unread:
            raise ValueError(f"topics are given for {unread}, which are not in points or setpoints: add them there "
                             "or remove their topics")
        topics = [self.point_topic(n) for n in self.points] + [self.setpoint_topic(n) for n in self.setpoints]
        shared = sorted({t for t in topics if topics.count(t) > 1})
        if shared:
            raise ValueError(f"topics used by more than one point or setpoint: {shared}")
        return self

    @property
    def address(self) -> str:
        """``host:port`` of the broker, for messages."""
        return f"{self.host}:{self.port}"

    def point_topic(self, name: str) -> str:
        """Topic of point ``name`` (a contract point name)."""
        return self.point_topics.get(name, f"{self.prefix}/points/{name}")

    def setpoint_topic(self, name: str) -> str:
        """Topic of setpoint ``name`` (a contract setpoint name)."""
        return self.setpoint_topics.get(name, f"{self.prefix}/setpoints/{name}")

    @property
    def point_names(self) -> tuple[str, ...]:
        """The points read."""
        return self.points

    @property
    def setpoint_names(self) -> tuple[str, ...]:
        """The setpoints written."""
        return self.setpoints

    def resolve_password(self) -> str | None:
        """The password from ``password_env`` (when set and non-empty) or ``password``."""
        if self.password_env and os.environ.get(self.password_env):
            return os.environ[self.password_env]
        return self.password.get_secret_value() if self.password is not None else None


def _point_names(contract: Contract) -> tuple[str, ...]:
    return contract.point_names


def _setpoint_names(contract: Contract) -> tuple[str, ...]:
    return contract.setpoint_names


def new_client_id(kind: str = "coolpilot") -> str:
    """A client id unique enough that two processes never share a broker session."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"
