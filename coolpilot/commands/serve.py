"""``coolpilot serve SITE.yaml``: the online controller (control loop + HTTP API) for one site."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot serve``."""
    parser.add_argument("site", help="site YAML file (model, fallback, adapter, safety, mode, api, audit)")
    parser.add_argument("--cycles", type=int, help="stop after this many control cycles (default: run until stopped)")
    parser.add_argument("--no-api", action="store_true", help="do not serve the HTTP API")
    parser.add_argument("--excitation", metavar="PLAN.yaml",
                        help="run an excitation plan (coolpilot calibrate --plan) in place of the model: its step "
                             "tests in its nightly windows, the fallback policy otherwise and after it; every write "
                             "through the safety envelope, aborted on the thermal guard")


async def serve(site_path: str, cycles: int | None, api: bool, excitation: str | None = None) -> int:
    """Run the service (and its API) until a signal or ``cycles`` cycles."""
    import uvicorn

    from coolpilot.controller.api import create_app
    from coolpilot.controller.connect import build_adapter
    from coolpilot.controller.service import ControllerService
    from coolpilot.controller.site import load_site

    site = load_site(site_path)
    service = ControllerService(site, build_adapter(site.adapter), excitation=excitation)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, service.stop)
    server = None
    api_task = None
    if api and site.api.enabled:
        token = site.api.resolve_token()
        if token is None:
            log.warning("no API token (site api.token or $%s): mutating endpoints are disabled", site.api.token_env)
        app = create_app(service, token)
        server = uvicorn.Server(uvicorn.Config(app, host=site.api.host, port=site.api.port, log_level="warning",
                                               lifespan="off"))
        api_task = asyncio.create_task(server.serve())
    log.info("serving site %s in mode %s, period %.3g s, model %s", site.name, service.mode, site.period_s,
             service.model_sha256 or "none")
    try:
        await service.run(cycles)
    finally:
        if server is not None and api_task is not None:
            server.should_exit = True
            await asyncio.wait_for(api_task, timeout=10)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run until stopped."""
    return asyncio.run(serve(args.site, args.cycles, not args.no_api, args.excitation))
