from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accord.core import audit, backup
from accord.core.audit import Actor, AuditAction


class Command(BaseCommand):
    help = (
        "Write a back-up of this node to PATH: one tar archive with a manifest, the "
        "database (SQLite online copy, or pg_dump), the keys and every stored file "
        "(docs/operations.md, 'Back-up and restore'). It holds the node's private keys: "
        "keep it as you keep them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the archive to write (a new file)")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        try:
            manifest = backup.create(Path(path))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        with transaction.atomic():
            audit.record(
                Actor.system("cli"),
                AuditAction.NODE_BACKUP,
                target_type="core.node",
                target_id=manifest["node_id"],
                data={
                    "file": Path(path).name,
                    "created_at": manifest["created_at"],
                    "members": len(manifest["members"]),
                    "database": manifest["database"]["vendor"],
                },
            )
        self.stdout.write(
            f"back-up of {manifest['node_id']} written to {path}: "
            f"{len(manifest['members'])} files, {manifest['database']['vendor']} database"
        )
