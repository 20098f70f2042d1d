from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from accord.core import audit, identity
from accord.core.audit import Actor, AuditAction
from accord.core.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Create this node: generate its Ed25519 signing key and X25519 encryption key "
        "(0600 files in the data directory), its secret key, and its database. "
        "Refuses to overwrite an existing node."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node-id", required=True, help="this node's id, e.g. cn.mps")
        parser.add_argument("--party", required=True, help="the country or party, e.g. China")
        parser.add_argument(
            "--agency", required=True, help="the agency, e.g. Ministry of Public Security"
        )
        parser.add_argument(
            "--central-authority",
            action=argparse.BooleanOptionalAction,
            default=True,
            help=(
                "whether this node holds its party's central authority (the default); "
                "--no-central-authority for another agency of the party, e.g. us.dhs"
            ),
        )

    def handle(
        self,
        *args: Any,
        node_id: str,
        party: str,
        agency: str,
        central_authority: bool = True,
        **options: Any,
    ) -> None:
        data_dir = settings.DATA_DIR
        try:
            identity.validate_node_fields(node_id, party, agency)
        except identity.IdentityError as exc:
            raise CommandError(str(exc)) from None
        present = identity.existing_node_files(data_dir)
        if present:
            raise CommandError(
                f"{data_dir} already holds a node ({', '.join(present)}); refusing to overwrite it"
            )
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            call_command("migrate", interactive=False, verbosity=0)
            owner = AuditEvent.objects.filter(action=AuditAction.NODE_INIT).first()
        except DatabaseError as exc:
            raise CommandError(f"cannot prepare the database: {exc}") from None
        if owner is not None:
            raise CommandError(
                f"the database already belongs to node {owner.target_id}; "
                "give this node its own database (ACCORD_DATABASE_URL)"
            )
        try:
            node = identity.write_identity(
                data_dir, node_id, party, agency, central_authority=central_authority
            )
        except identity.IdentityError as exc:
            raise CommandError(str(exc)) from None
        audit.record(
            Actor.system("cli"),
            AuditAction.NODE_INIT,
            target_type="core.node",
            target_id=node.node_id,
            data={
                "party": node.party,
                "agency": node.agency,
                "central_authority": node.central_authority,
                "fingerprint": node.fingerprint,
            },
        )
        role = (
            "holds the central authority of"
            if node.central_authority
            else "is an agency (not the central authority) of"
        )
        self.stdout.write(
            f"Node {node.node_id} ({node.agency}, {node.party}) created in {data_dir}; "
            f"it {role} {node.party}"
        )
        self.stdout.write(f"Fingerprint (read it to your peers out of band): {node.fingerprint}")
