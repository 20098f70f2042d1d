"""The demo's node preparation in one process (`python -m accord.core.demoprep`,
run by accord.core.demo with the node's environment and a JSON spec on
standard input): creating a node and its six users, or pinning its peers, in
one Django start-up instead of one `accord` run per step. Each step is the
same management command or service function an operator's `accord` runs.

Spec: {"init": {"node_id", "party", "agency", "central_authority"},
       "users": [{"username", "role", "full_name", "password", "totp_secret"}],
       "peers": [{"node_id", "url", "fingerprint"}]}   (each part optional)
Prints one line per peer added: "added NODE_ID"."""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any


def prepare(spec: dict[str, Any]) -> list[str]:
    from django.core.management import call_command
    from django.db import transaction

    from accord.core import services, twofactor
    from accord.core.audit import Actor

    init = spec.get("init")
    if init:
        call_command(
            "init",
            node_id=init["node_id"],
            party=init["party"],
            agency=init["agency"],
            central_authority=init["central_authority"],
            stdout=io.StringIO(),
        )
    actor = Actor.system("cli")
    for user in spec.get("users", []):
        with transaction.atomic():
            created = services.create_user(
                actor,
                user["username"],
                user["role"],
                user["password"],
                full_name=user["full_name"],
            )
            if user.get("totp_secret"):
                twofactor.enrol_with_secret(actor, created, user["totp_secret"])
    added = []
    if spec.get("peers"):
        listing = io.StringIO()
        call_command("peer", "list", "--json", stdout=listing)
        present = {row["node_id"] for row in json.loads(listing.getvalue())}
        for peer in spec["peers"]:
            if peer["node_id"] in present:
                continue
            pin = ("peer", "add", peer["url"], "--fingerprint", peer["fingerprint"])
            call_command(*pin, stdout=io.StringIO())
            added.append(peer["node_id"])
    return added


def main() -> None:
    spec = json.load(sys.stdin)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")
    import django

    django.setup()
    for node_id in prepare(spec):
        print(f"added {node_id}")


if __name__ == "__main__":
    main()
