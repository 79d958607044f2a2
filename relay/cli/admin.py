"""The admin commands: `relay tenants`, `relay keys`, `relay sessions`, `relay qr`, over the REST API.

Each prints a short table (or, with ``--json``, the API's own JSON) and exits non-zero with the
API's problem written out when Relay refuses. Examples::

    relay tenants create "Acme"
    relay keys create --tenant ten_01...        # prints the key, once
    relay sessions list --tenant ten_01...      # with the admin token
    RELAY_TOKEN=rk_... relay qr ses_01...       # a tenant's key: sessions are the tenant's
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from relay.cli.api_client import ApiError, RelayApi, resolve_token, resolve_url
from relay.cli.qr import DEFAULT_TIMEOUT, follow_qr

ADMIN_COMMANDS = frozenset({"tenants", "keys", "sessions", "qr"})
SESSION_COLUMNS = ("id", "name", "engine", "status", "phone", "reason")


def print_table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    rows = list(rows)
    cells = [[("" if row.get(column) is None else str(row[column])) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    for line in [[column.upper() for column in columns], *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _output(args: argparse.Namespace, value: Any, show: Callable[[], None]) -> int:
    if args.json:
        print(json.dumps(value, indent=2))
    else:
        show()
    return 0


def tenants_create(api: RelayApi, args: argparse.Namespace) -> int:
    tenant = api.post("/v1/tenants", {"name": args.name})
    return _output(args, tenant, lambda: print(f"Created tenant {tenant['id']} ({tenant['name']})."))


def tenants_list(api: RelayApi, args: argparse.Namespace) -> int:
    tenants = list(api.pages("/v1/tenants"))
    return _output(args, tenants, lambda: print_table(tenants, ("id", "name", "created_at")))


def keys_create(api: RelayApi, args: argparse.Namespace) -> int:
    body = {"name": args.name} if args.name else {}
    key = api.post(f"/v1/tenants/{args.tenant}/api-keys", body)
    if args.json:
        return _output(args, key, lambda: None)
    # The key alone on stdout, so `KEY=$(relay keys create --tenant ...)` works; the note on stderr.
    print(key["key"])
    print(
        f"API key {key['id']} for tenant {args.tenant}: shown once, Relay keeps only its hash.",
        file=sys.stderr,
    )
    return 0


def sessions_list(api: RelayApi, args: argparse.Namespace) -> int:
    if args.tenant:
        sessions = list(api.pages(f"/v1/tenants/{args.tenant}/sessions"))
    else:
        try:
            sessions = list(api.pages("/v1/sessions"))  # a tenant's key or token: its own sessions
        except ApiError as exc:
            if exc.status != 403:
                raise
            # The admin token: every tenant's, tenant by tenant.
            sessions = [
                {**session, "tenant": tenant["id"]}
                for tenant in api.pages("/v1/tenants")
                for session in api.pages(f"/v1/tenants/{tenant['id']}/sessions")
            ]
    columns = ("tenant", *SESSION_COLUMNS) if any("tenant" in s for s in sessions) else SESSION_COLUMNS
    return _output(args, sessions, lambda: print_table(sessions, columns))


def qr(api: RelayApi, args: argparse.Namespace) -> int:
    try:
        return follow_qr(api, args.session, timeout=args.timeout)
    except ApiError as exc:
        if exc.status != 403:
            raise
        hint = "a session belongs to its tenant: pass its API key (--token or RELAY_TOKEN)"
        raise ApiError(f"{exc}\n  {hint}; `relay keys create --tenant ID` makes one", exc.status) from exc


def build_parser() -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--url", help="Relay's base URL (RELAY_URL; http://127.0.0.1:8080)")
    connection.add_argument(
        "--token",
        help="API key, JWT or admin token (RELAY_TOKEN, RELAY_ADMIN_TOKEN, RELAY_DATA_DIR's admin_token)",
    )
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    parser = argparse.ArgumentParser(prog="relay", description="Admin tasks against a running Relay.")
    groups = parser.add_subparsers(dest="group", required=True)

    tenants = groups.add_parser("tenants", help="create and list tenants (admin token)")
    tenant_actions = tenants.add_subparsers(dest="action", required=True)
    create = tenant_actions.add_parser("create", parents=[connection, output], help="create a tenant")
    create.add_argument("name")
    create.set_defaults(run=tenants_create)
    list_tenants = tenant_actions.add_parser("list", parents=[connection, output], help="list tenants")
    list_tenants.set_defaults(run=tenants_list)

    keys = groups.add_parser("keys", help="create API keys (admin token)")
    key_actions = keys.add_subparsers(dest="action", required=True)
    create_key = key_actions.add_parser(
        "create", parents=[connection, output], help="create an API key, shown once"
    )
    create_key.add_argument("--tenant", required=True, metavar="ID")
    create_key.add_argument("--name", help="a label to tell keys apart")
    create_key.set_defaults(run=keys_create)

    sessions = groups.add_parser("sessions", help="list sessions")
    session_actions = sessions.add_subparsers(dest="action", required=True)
    list_sessions = session_actions.add_parser(
        "list",
        parents=[connection, output],
        help="a tenant's sessions (its key), or any tenant's (admin token)",
    )
    list_sessions.add_argument("--tenant", metavar="ID", help="with the admin token: only this tenant's")
    list_sessions.set_defaults(run=sessions_list)

    show_qr = groups.add_parser(
        "qr", parents=[connection], help="show a session's QR code in the terminal until it connects"
    )
    show_qr.add_argument("session", metavar="SESSION")
    show_qr.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"give up after this many seconds ({DEFAULT_TIMEOUT:g})",
    )
    show_qr.set_defaults(run=qr)
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        with RelayApi(resolve_url(args.url, os.environ), resolve_token(args.token, os.environ)) as api:
            result: int = args.run(api, args)
            return result
    except ApiError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
