"""`tempyral server start-dev ...`: the same flags as `temporal server start-dev` where they make sense."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from tempyral.config import DynamicConfig, ServerConfig
from tempyral.search_attributes import SearchAttributeRegistry

_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "never": logging.CRITICAL + 1,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tempyral", description="A Temporal-compatible server in Python.")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run a server")
    server_commands = server.add_subparsers(dest="server_command", required=True)
    dev = server_commands.add_parser("start-dev", help="start a development server")
    dev.add_argument("--ip", default="localhost", help="IP address to bind the frontend to")
    dev.add_argument("-p", "--port", type=int, default=7233, help="gRPC port")
    dev.add_argument(
        "-f", "--db-filename", default=None, help="SQLite file for durable state; in memory when absent"
    )
    dev.add_argument(
        "-n", "--namespace", action="append", default=[], help="namespace to create (repeatable)"
    )
    dev.add_argument("--log-level", default="warn", choices=sorted(_LOG_LEVELS))
    dev.add_argument("--log-format", default="pretty", help="accepted for compatibility")
    dev.add_argument("--headless", action="store_true", help="no web UI (Tempyral has none yet)")
    dev.add_argument(
        "--dynamic-config-value",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dynamic config value (JSON), Temporal key names",
    )
    dev.add_argument("--sqlite-pragma", action="append", default=[], metavar="PRAGMA=VALUE")
    dev.add_argument(
        "--search-attribute",
        action="append",
        default=[],
        metavar="KEY=TYPE",
        help="register a custom search attribute (Text, Keyword, Int, Double, Bool, Datetime, KeywordList)",
    )
    for ignored in (
        "--ui-port",
        "--ui-ip",
        "--http-port",
        "--metrics-port",
        "--ui-asset-path",
        "--ui-codec-endpoint",
        "--ui-public-path",
    ):
        dev.add_argument(ignored, default=None, help=argparse.SUPPRESS)
    dev.add_argument("--ui-disable-news-fetch", action="store_true", help=argparse.SUPPRESS)
    dev.add_argument("--log-config", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=_LOG_LEVELS[args.log_level],
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        dynamic = DynamicConfig.from_pairs(args.dynamic_config_value)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        SearchAttributeRegistry.from_flags(args.search_attribute)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ip = "127.0.0.1" if args.ip == "localhost" else args.ip
    config = ServerConfig(
        ip=ip,
        port=args.port,
        db_filename=args.db_filename,
        search_attributes=args.search_attribute,
        namespaces=args.namespace,
        log_level=args.log_level,
        dynamic=dynamic,
    )
    from tempyral.persistence.sqlite.store import DatabaseInUse
    from tempyral.server import serve

    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(serve(config, args.sqlite_pragma))
    except DatabaseInUse as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
