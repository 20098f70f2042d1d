"""Parties and their agencies. A party (a state) has one or more agency nodes;
one of them holds the party's central authority. Each node's signed identity
says which party it belongs to and whether it holds the central authority,
and a rule that speaks of "the other side" speaks of the party: us.doj and
us.dhs are one side, cn.mps the other.

Peering stays pairwise: these helpers only read what the pinned identities
say, and never widen whom a node talks to."""

from __future__ import annotations

from accord.core.identity import this_node
from accord.federation.models import Peer


def party_key(party: str) -> str:
    """Two spellings of one party compare equal ("United States" and
    "united states "); the displayed name stays as the identity gives it."""
    return " ".join(party.split()).casefold()


def same_party(peer: Peer) -> bool:
    """Whether the peer is another agency of this node's own party."""
    return party_key(peer.party) == party_key(this_node().party)


def other_side(peer: Peer) -> bool:
    """Whether the peer belongs to the other side (another party)."""
    return not same_party(peer)


def agencies_of(party: str) -> list[Peer]:
    """The active peers of a party, its central authority first."""
    key = party_key(party)
    peers = [peer for peer in Peer.objects.filter(active=True) if party_key(peer.party) == key]
    return sorted(peers, key=lambda peer: (not peer.central_authority, peer.node_id))


def central_authority_of(party: str) -> Peer | None:
    """The peer that holds the party's central authority, if this node peers
    with it (None for this node's own party when this node holds it)."""
    return next((peer for peer in agencies_of(party) if peer.central_authority), None)


def own_agencies() -> list[Peer]:
    """The other agencies of this node's party that this node peers with."""
    return agencies_of(this_node().party)


def label(peer: Peer) -> str:
    """How a page names an agency: its agency and its party."""
    return f"{peer.agency} ({peer.party})" if peer.agency else peer.node_id
