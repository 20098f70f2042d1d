from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accord.core import audit, backup
from accord.core.audit import Actor, AuditAction


class Command(BaseCommand):
    help = (
        "Restore a node from a back-up written by `accord backup`, onto an empty data "
        "directory and an empty database. The whole archive is checked first: a damaged "
        "or foreign archive changes nothing. Then every channel is recovered from its "
        "peer (docs/protocol.md, 'Recovery after a restore'); a peer that cannot be "
        "reached now is asked again by the clock."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the archive to restore")
        parser.add_argument(
            "--no-recover",
            action="store_true",
            help="do not ask the peers now (the clock will, once the node runs)",
        )

    def handle(self, *args: Any, path: str, no_recover: bool = False, **options: Any) -> None:
        source = Path(path)
        data_dir = Path(settings.DATA_DIR).resolve()
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with tempfile.TemporaryDirectory(prefix=".accord-restore-", dir=data_dir.parent) as tmp:
                manifest = backup.restore(source, Path(tmp))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        settings.SECRET_KEY = (data_dir / "secret_key").read_text().strip()
        call_command("migrate", interactive=False, verbosity=0)
        # Late: the federation app's code needs the restored node.
        from accord.federation import recovery

        with transaction.atomic():
            marked = recovery.begin()
            audit.record(
                Actor.system("cli"),
                AuditAction.NODE_RESTORE,
                target_type="core.node",
                target_id=manifest["node_id"],
                data={"backup_created_at": manifest["created_at"], "channels": marked},
            )
        self.stdout.write(
            f"{manifest['node_id']} restored from the back-up of {manifest['created_at']}; "
            f"{marked} channels to recover"
        )
        if no_recover:
            return
        for outcome in recovery.recover_due(Actor.system("cli")):
            if isinstance(outcome, recovery.RecoveryError):
                self.stdout.write(f"not yet recovered (the clock asks again): {outcome}")
            else:
                data = outcome.as_data()
                self.stdout.write(
                    f"{outcome.peer}: {data['learned']} sent messages learned back, "
                    f"{data['resent']} received again, next seq out {data['next_out_seq']}, "
                    f"in {data['next_in_seq']}"
                )
