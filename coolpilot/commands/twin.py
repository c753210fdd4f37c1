"""``coolpilot twin``: a simulated facility behind MQTT topics, Modbus registers or BACnet objects.

For trying ``coolpilot serve`` without a plant: ``--site SITE.yaml`` serves the site's own
adapter section (protocol, addresses, point map), so both ends of the loop read one file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot twin``."""
    parser.add_argument("--site", help="site YAML file: speak its adapter's protocol (mqtt, modbus, bacnet) at its "
                                       "addresses with its point map (overrides the --mqtt-* options)")
    parser.add_argument("--facility", help="preset name or facility YAML file (default: the --site file's facility, "
                                           "else modern-hall)")
    parser.add_argument("--climate", default="chicago", help="bundled climate name or EPW file (default chicago)")
    parser.add_argument("--start-day", type=float, default=180.0, help="day of year to start, 0 = 1 January "
                                                                      "(default 180)")
    parser.add_argument("--step-s", type=float, default=300.0, help="plant seconds per tick (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the load noise (default 0)")
    parser.add_argument("--mqtt-host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    parser.add_argument("--mqtt-port", type=int, default=1883, help="broker port (default 1883)")
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--password-env", help="environment variable holding the broker password")
    parser.add_argument("--prefix", default="coolpilot/site", help="topic prefix (default coolpilot/site)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--tick-s", type=float, default=1.0, help="wall seconds between ticks (default 1.0)")
    pace.add_argument("--speed", type=float, help="plant time runs this many times faster than real time "
                                                  "(1 = real time; overrides --tick-s)")
    parser.add_argument("--ticks", type=int, help="stop after this many ticks (default: run until Ctrl-C)")


async def run_twin(args: argparse.Namespace) -> int:
    """Connect, tick until ``--ticks`` or SIGINT/SIGTERM, then disconnect."""
    from coolpilot.controller.adapters.base import AdapterError
    from coolpilot.controller.connect import twin_for_site
    from coolpilot.controller.protocols.mqtt import MqttSettings
    from coolpilot.controller.site import AdapterSection, load_site

    site = load_site(args.site) if args.site else None
    section = site.adapter if site is not None else AdapterSection(kind="mqtt", mqtt=MqttSettings(
        host=args.mqtt_host, port=args.mqtt_port, prefix=args.prefix, username=args.username,
        password_env=args.password_env))
    facility = args.facility or (site.facility if site is not None else None) or "modern-hall"
    twin = twin_for_site(section, facility=facility, climate=args.climate, start_day=args.start_day,
                         dt_s=args.step_s, seed=args.seed, speed=args.speed, tick_s=args.tick_s)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await twin.connect()
    except (AdapterError, OSError) as err:
        log.error("%s", err)
        return 1
    log.info("twin of %s in %s from day %g: %g s of plant time every %.3g s, serving %s", twin.cfg.name,
             twin.weather.name, args.start_day, args.step_s, twin.interval_s, _where(section))
    runner = asyncio.create_task(twin.run(args.ticks))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (runner, stopper):
            task.cancel()
        await asyncio.gather(runner, stopper, return_exceptions=True)
        await twin.close()
    log.info("twin stopped after %d ticks", twin.tick)
    return 0


def _where(section: object) -> str:
    """Where the twin serves, for the log."""
    from coolpilot.controller.site import AdapterSection

    assert isinstance(section, AdapterSection)
    if section.mqtt is not None:
        return f"MQTT topics {section.mqtt.prefix}/… on broker {section.mqtt.address}"
    if section.modbus is not None:
        return f"Modbus TCP on {section.modbus.host}:{section.modbus.port}"
    assert section.bacnet is not None
    return f"BACnet/IP device {section.bacnet.device_instance} at {section.bacnet.device_address}"


def run(args: argparse.Namespace) -> int:
    """Run the twin until stopped."""
    if args.ticks is not None and args.ticks < 0:
        raise ValueError(f"--ticks = {args.ticks} must be >= 0")
    return asyncio.run(run_twin(args))
