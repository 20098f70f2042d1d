"""The rules of the dialogue record, one module per part of it: `dialogues`
(dialogues, rounds, delegations), `outcomes` (proposing, amending, signing),
`disagreements` (and positions), `commitments`. Each change checks the policy
(accord.dialogue.policy), changes state, and queues the federation message and
writes the audit event in one transaction; refusals are audited. Each part also
applies what the partner sent (`apply_partner_*`, called by
accord.dialogue.inbound), under the same authorship rules.

Authorship: the node that creates a dialogue, round, outcome, disagreement or
commitment authors it; a side writes only its own delegation, positions and
signatures; a commitment's status is set by the side that owes it. An outcome
is agreed when both nodes' Ed25519 signatures cover the same canonical content
(RFC 8785, accord.dialogue.signing); a new version needs both signatures again,
and the history stays.

The commands are re-exported here for callers that name them `services.X`."""

from accord.dialogue.services.commitments import (
    create_commitment,
    set_commitment_status,
    validate_links,
)
from accord.dialogue.services.dialogues import create_dialogue, save_round, set_delegation
from accord.dialogue.services.disagreements import (
    open_disagreement,
    set_disagreement_status,
    state_position,
)
from accord.dialogue.services.outcomes import amend_outcome, propose_outcome, sign_outcome

__all__ = [
    "amend_outcome",
    "create_commitment",
    "create_dialogue",
    "open_disagreement",
    "propose_outcome",
    "save_round",
    "set_commitment_status",
    "set_delegation",
    "set_disagreement_status",
    "sign_outcome",
    "state_position",
    "validate_links",
]
