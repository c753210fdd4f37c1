"""A real mosquitto broker per test, on a fresh 127.0.0.1 port, stopped by its own PID.

``mosquitto`` is an anonymous broker; ``mosquitto_auth`` requires a password and applies
an ACL (users in :data:`~tests.controller.helpers.USERS`): the plant may publish points and
read setpoints, the controller may read points but write only two of the four setpoints;
``mosquitto_tls`` speaks TLS only. All are skipped only when the mosquitto binary (or, for
TLS, openssl) is absent. The helpers they are built on are in ``helpers.py``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.helpers import (
    MOSQUITTO,
    MOSQUITTO_PASSWD,
    OPENSSL,
    PREFIX,
    USERS,
    WRITABLE_SETPOINTS,
    Broker,
    broker_config,
    free_port,
    make_certificates,
)


def _broker(tmp_path: Path, extra: list[str]) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"mosquitto broker not installed ({MOSQUITTO} missing): apt-get install mosquitto")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(broker_config(port, extra))
    broker = Broker(port, conf, tmp_path / "mosquitto.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """An anonymous broker on a fresh port."""
    yield from _broker(tmp_path, ["allow_anonymous true"])


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[Broker]:
    """A broker with passwords (:data:`USERS`) and an ACL (:data:`WRITABLE_SETPOINTS`)."""
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"mosquitto broker not installed ({MOSQUITTO} missing): apt-get install mosquitto")
    if MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto_passwd not installed (comes with the mosquitto package)")
    passwd = tmp_path / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        args = [MOSQUITTO_PASSWD, *(["-c"] if i == 0 else []), "-b", str(passwd), user, password]
        subprocess.run(args, check=True, capture_output=True, timeout=10)
    acl = tmp_path / "acl"
    acl.write_text("\n".join([
        "user plant",
        f"topic write {PREFIX}/points/#",
        f"topic read {PREFIX}/setpoints/#",
        "",
        "user controller",
        f"topic read {PREFIX}/points/#",
        *(f"topic write {PREFIX}/setpoints/{name}" for name in WRITABLE_SETPOINTS),
        "",
    ]))
    yield from _broker(tmp_path, ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"])


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[tuple[Broker, dict[str, Path]]]:
    """An anonymous broker speaking TLS only, and its certificate files (``ca.crt`` to trust)."""
    if OPENSSL is None:
        pytest.skip("openssl not installed: cannot make test certificates")
    certs = make_certificates(tmp_path / "certs")
    extra = ["allow_anonymous true", f"cafile {certs['ca.crt']}", f"certfile {certs['server.crt']}",
             f"keyfile {certs['server.key']}"]
    for broker in _broker(tmp_path, extra):
        yield broker, certs
