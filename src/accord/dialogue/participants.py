"""How pages and the API name a dialogue's participating agencies: each node
by its agency and party (this node's from its identity, a peer's from the
identity it published), and each round's co-chairs with their agency."""

from __future__ import annotations

from typing import Any

from accord.core.identity import this_node
from accord.dialogue.models import Dialogue, Round
from accord.dialogue.types import DelegationRole
from accord.federation.parties import label


def labels(dialogue: Dialogue) -> dict[str, str]:
    """Each participating node's name as a page shows it: "agency (party)"."""
    here = this_node()
    mine = f"{here.agency} ({here.party})" if here.agency else here.node_id
    return {here.node_id: mine, **{p.node_id: label(p) for p in dialogue.peers.all()}}


def participants(dialogue: Dialogue) -> list[dict[str, Any]]:
    """Every participating node, with its agency and party, in node order."""
    here = this_node()
    rows = [
        {"node": here.node_id, "agency": here.agency, "party": here.party},
        *({"node": p.node_id, "agency": p.agency, "party": p.party} for p in dialogue.peers.all()),
    ]
    return sorted(rows, key=lambda row: row["node"])


def co_chairs(round_: Round) -> list[dict[str, str]]:
    """The round's co-chairs, each with the agency (node) that named them."""
    names = labels(round_.dialogue)
    return [
        {"name": e.name, "title": e.title, "node": e.node, "agency": names.get(e.node, e.node)}
        for e in sorted(round_.delegates.all(), key=lambda e: (e.node, e.position))
        if e.role == DelegationRole.CO_CHAIR
    ]
