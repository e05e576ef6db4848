"""`taxhall gateway`: serves the local tax gateway over HTTP so every kiosk of a hall can share it.

    taxhall gateway [--listen 127.0.0.1:8765] [--db PATH]

Defaults come from the `[gateway]` section (docs/gateway.md); the database defaults to
`<data-dir>/gateway.sqlite` and is created with demo data on first start. The server is uvicorn
logging through the process's own log set-up, so its lines carry the hall and device and are
masked like every other line.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from taxhall.config import DeviceConfig
from taxhall.watchdog import Watchdog

from kiosk.gateway.config import GatewaySection, parse_listen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxhall gateway", description="Serve the local tax gateway over HTTP.")
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default: [gateway] listen, 127.0.0.1:8765)")
    parser.add_argument("--db", metavar="PATH", help="SQLite file (default: [gateway] db, else <data-dir>/gateway.sqlite)")
    return parser


def run(config: DeviceConfig, argv: list[str]) -> int:
    """Parses `argv`, opens (or creates) the database and serves until stopped."""
    args = build_parser().parse_args(argv)
    section: GatewaySection = config.sections.get("gateway") or GatewaySection()  # type: ignore[assignment]
    try:
        host, port = parse_listen(args.listen or section.listen)
    except ValueError as exc:
        print(f"taxhall gateway: --listen: expected {exc}", file=sys.stderr)
        return 2
    db_path = Path(args.db) if args.db else section.db_path(config.data_dir)

    # Imported here: the web stack is only needed by the process that serves.
    import uvicorn

    from kiosk.gateway.http_api import create_app
    from kiosk.gateway.local import LocalTaxGateway

    try:
        gateway = LocalTaxGateway(db_path, section.settings())
    except OSError as exc:
        print(f"taxhall gateway: cannot open the database {db_path}: {exc}", file=sys.stderr)
        return 1
    # Bound here rather than by uvicorn: a taken port is then one plain line and status 1
    # (uvicorn would exit 3, which `taxhall` uses for "not built").
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        print(f"taxhall gateway: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), host=host, port=port, log_config=None,
                                           access_log=True, timeout_graceful_shutdown=5))
    print(f"taxhall gateway: serving {db_path} on http://{host}:{port}", flush=True)
    try:
        # Kept alive while uvicorn serves; a hung event loop stops the keep-alives.
        Watchdog.from_env().watch(lambda: bool(server.started) and not server.should_exit)
        server.run(sockets=[sock])
    finally:
        sock.close()
        gateway.close()
    return 0 if server.started else 1
