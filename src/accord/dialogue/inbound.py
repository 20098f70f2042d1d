"""The dialogue.* message kinds as they arrive. A node accepts from its partner
only what the partner authors: its own dialogues, rounds, delegation, outcome
proposals, signatures (checked against the partner's pinned key), positions,
and the status of what it owes; anything else is refused with a reason. Each
handler hands the checked body to the service that applies it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accord.dialogue import wire
from accord.dialogue.services import commitments, dialogues, disagreements, outcomes
from accord.federation import kinds

# Each kind, its body, and the service function that applies it.
HANDLERS: tuple[tuple[str, type[kinds.StrictBody], Callable[[Any, Any], object]], ...] = (
    (wire.DIALOGUE_KIND, wire.DialogueBody, dialogues.apply_partner_dialogue),
    (wire.ROUND_KIND, wire.RoundBody, dialogues.apply_partner_round),
    (wire.DELEGATION_KIND, wire.DelegationBody, dialogues.apply_partner_delegation),
    (wire.OUTCOME_KIND, wire.OutcomeBody, outcomes.apply_partner_outcome),
    (wire.SIGNATURE_KIND, wire.SignatureBody, outcomes.apply_partner_signature),
    (wire.DISAGREEMENT_KIND, wire.DisagreementBody, disagreements.apply_partner_disagreement),
    (wire.POSITION_KIND, wire.PositionBody, disagreements.apply_partner_position),
    (wire.STATUS_KIND, wire.StatusBody, disagreements.apply_partner_status),
    (wire.COMMITMENT_KIND, wire.CommitmentBody, commitments.apply_partner_commitment),
)

for kind, body, apply in HANDLERS:
    kinds.register(kind, body)(kinds.peer_handler(apply))
