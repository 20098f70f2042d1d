"""`accord check`: Django's system checks plus this node's own sanity checks."""

from __future__ import annotations

import stat
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accord.core import identity


@register("accord", deploy=True)
def check_node(app_configs: Any = None, **kwargs: Any) -> list:
    problems: list = []
    data_dir = settings.DATA_DIR
    if not data_dir.is_dir():
        return [
            Error(
                f"data directory {data_dir} does not exist",
                hint="Run `accord init`, or point ACCORD_DATA_DIR at the node's data directory.",
                id="accord.E001",
            )
        ]
    try:
        identity.read_identity(data_dir)
    except identity.IdentityError as exc:
        problems.append(Error(str(exc), id="accord.E002"))
    for name in identity.NODE_FILES:
        path = data_dir / name
        if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            problems.append(
                Error(
                    f"{path} is readable by other users",
                    hint=f"chmod 600 {path}",
                    id="accord.E003",
                )
            )
    if not settings.HTTPS:
        problems.append(
            Warning(
                "ACCORD_HTTPS is off: cookies are sent without the Secure flag",
                hint="Serve only on loopback, or behind a TLS proxy with ACCORD_HTTPS=true.",
                id="accord.W020",
            )
        )
    if not settings.SECRET_KEY:
        problems.append(Error("no secret key: run `accord init`", id="accord.E004"))
    return problems


@register("accord", "database", deploy=True)
def check_database(app_configs: Any = None, **kwargs: Any) -> list:
    databases = kwargs.get("databases") or []
    if "default" not in databases:
        return []
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # any driver error means the database is unusable
        return [Error(f"cannot use the database: {exc}", id="accord.E010")]
    if pending:
        return [
            Warning(
                f"{len(pending)} database migrations are not applied",
                hint="Run `accord migrate`.",
                id="accord.W011",
            )
        ]
    return []
