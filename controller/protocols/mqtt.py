"""The MQTT topic map both ends share: broker settings, credentials, TLS and the topic of every name.

:class:`MqttSettings` (``adapter.mqtt`` of a site file) is read by the client adapter
(:mod:`coolpilot.controller.adapters.mqtt`, which documents the topic layout and payloads) and by the
plant twin (:class:`coolpilot.controller.twin.plant.PlantTwin`), which publishes the points and takes
the setpoints on the same topics. This module imports no protocol library, so a site file
parses without paho-mqtt.
"""

from __future__ import annotations

import os
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from coolpilot.envs.contract import POINT_NAMES, POINTS_BY_NAME, SETPOINT_NAMES, SETPOINTS_BY_NAME


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

    @field_validator("point_topics")
    @classmethod
    def _valid_point_topics(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(POINTS_BY_NAME))
        if unknown:
            raise ValueError(f"unknown point names {unknown}; the contract's points are {list(POINT_NAMES)}")
        for name, topic in value.items():
            _check_topic(topic, f"topic of point {name}")
        return value

    @field_validator("setpoint_topics")
    @classmethod
    def _valid_setpoint_topics(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SETPOINTS_BY_NAME))
        if unknown:
            raise ValueError(f"unknown setpoint names {unknown}; the contract's setpoints are {list(SETPOINT_NAMES)}")
        for name, topic in value.items():
            _check_topic(topic, f"topic of setpoint {name}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(f"reconnect_max_s = {self.reconnect_max_s} s is below reconnect_min_s = "
                             f"{self.reconnect_min_s} s")
        topics = [self.point_topic(n) for n in POINT_NAMES] + [self.setpoint_topic(n) for n in SETPOINT_NAMES]
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

    def resolve_password(self) -> str | None:
        """The password from ``password_env`` (when set and non-empty) or ``password``."""
        if self.password_env and os.environ.get(self.password_env):
            return os.environ[self.password_env]
        return self.password.get_secret_value() if self.password is not None else None


def new_client_id(kind: str = "coolpilot") -> str:
    """A client id unique enough that two processes never share a broker session."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"
