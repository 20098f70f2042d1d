"""Outcomes: proposed and signed by one node, co-signed by the other; amended
only by the side that proposed them, each amendment a new version that needs
both signatures again (the earlier versions stay)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core.audit import Actor, AuditAction, refusals_kept
from accord.core.identity import this_node
from accord.dialogue import signing, wire
from accord.dialogue.fields import clean_text
from accord.dialogue.models import Outcome, OutcomeSignature, OutcomeVersion, Round
from accord.dialogue.policy import Action, check, enforce, refuse, require_permission
from accord.dialogue.services import signers
from accord.dialogue.services.partner import (
    lock_channels,
    publish,
    received,
    require_author,
    shared_round,
)
from accord.dialogue.types import Topic
from accord.federation import kinds
from accord.federation.models import Peer


def _sign(version: OutcomeVersion, actor: Actor, title: str) -> OutcomeSignature:
    """Signed with the signer's name and title from their profile (a title
    typed for this one signature takes its place)."""
    name, kept_title = signers.profile_of(actor)
    fields = signing.sign(version.content_sha256, name, (title or "").strip() or kept_title)
    return OutcomeSignature.objects.create(version=version, **fields)


def propose_outcome(
    actor: Actor,
    round_: Round,
    topic: str,
    text_en: str,
    text_zh: str,
    signer_title: str = "",
    *,
    ip: str = "",
) -> Outcome:
    """This node proposes a consensus item and signs it; the partner co-signs."""
    enforce(actor, Action.PROPOSE_OUTCOME, round_, ip=ip)
    if topic not in Topic.values:
        raise ValidationError(_("Unknown topic."))
    text_en = clean_text(text_en, _("Text (English)"))
    text_zh = clean_text(text_zh, _("Text (Chinese)"))
    with transaction.atomic():
        outcome = Outcome.objects.create(
            id=uuid.uuid4(),
            round=round_,
            topic=topic,
            author_node=this_node().node_id,
            created_at=timezone.now(),
        )
        _new_version(actor, outcome, text_en, text_zh, signer_title, ip)
    return outcome


def amend_outcome(
    actor: Actor,
    outcome: Outcome,
    text_en: str,
    text_zh: str,
    signer_title: str = "",
    *,
    ip: str = "",
) -> OutcomeVersion:
    """A new version (the old ones stay); it needs both signatures again.
    The proposing side amends; the other side asks it to, or records a disagreement."""
    enforce(actor, Action.AMEND_OUTCOME, outcome, ip=ip)
    text_en = clean_text(text_en, _("Text (English)"))
    text_zh = clean_text(text_zh, _("Text (Chinese)"))
    with transaction.atomic():
        lock_channels(outcome.round.dialogue)  # the channels, then the item
        locked = Outcome.objects.select_for_update().get(pk=outcome.pk)
        return _new_version(actor, locked, text_en, text_zh, signer_title, ip)


def _new_version(
    actor: Actor, outcome: Outcome, text_en: str, text_zh: str, title: str, ip: str
) -> OutcomeVersion:
    latest = outcome.latest()
    number = latest.version + 1 if latest else 1
    content = signing.outcome_content(outcome, number, text_en, text_zh)
    version = OutcomeVersion.objects.create(
        outcome=outcome,
        version=number,
        text_en=text_en,
        text_zh=text_zh,
        content_sha256=signing.content_hash(content),
        created_at=timezone.now(),
    )
    signature = _sign(version, actor, title)
    publish(
        actor,
        outcome.round.dialogue,
        wire.OUTCOME_KIND,
        wire.outcome_body(outcome, version, signature),
        action=AuditAction.DIALOGUE_SIGN,
        target=outcome,
        data={"what": "propose", "version": number, "sha256": version.content_sha256},
        ip=ip,
    )
    return version


@refusals_kept()
def sign_outcome(
    actor: Actor, outcome: Outcome, version_number: int, signer_title: str = "", *, ip: str = ""
) -> OutcomeSignature:
    """This node's authorised official co-signs the version it has read."""
    require_permission(actor, Action.SIGN_OUTCOME, ip=ip)
    dialogue = outcome.round.dialogue
    with transaction.atomic():
        lock_channels(dialogue)  # the one lock order: the channels, then the item
        version = outcome.versions.select_for_update().filter(version=version_number).first()
        if version is None:
            raise ValidationError(_("No such version."))
        refusal = check(Action.SIGN_OUTCOME, version)
        if refusal is not None:
            refuse(actor, Action.SIGN_OUTCOME, refusal, outcome, ip)  # kept: refusals_kept
        signature = _sign(version, actor, signer_title)
        publish(
            actor,
            dialogue,
            wire.SIGNATURE_KIND,
            wire.signature_body(outcome, version, signature),
            action=AuditAction.DIALOGUE_SIGN,
            target=outcome,
            data={"what": "sign", "version": version.version, "sha256": version.content_sha256},
            ip=ip,
        )
    return signature


# ---------------------------------------------------------------- from the partner


def _check_partner_signature(peer: Peer, block: wire.SignatureBlock, sha256: str) -> None:
    pinned = {peer.signing_key, peer.previous_signing_key} - {""}
    if block.public_key not in pinned:
        raise kinds.Refusal("bad_signature: not signed with the key pinned for this peer")
    if not signing.verify_signature(block.model_dump(), sha256):
        raise kinds.Refusal("bad_signature: the signature does not verify")


def apply_partner_outcome(peer: Peer, body: wire.OutcomeBody) -> Outcome:
    """A version of an outcome the partner proposed, signed by the partner."""
    require_author(peer, body.author_node, "an outcome")
    require_author(peer, body.signature.node, "the proposer's signature")
    round_ = shared_round(peer, body.round_id)
    outcome = Outcome.objects.filter(pk=body.id).first()
    if outcome is None:
        outcome = Outcome.objects.create(
            id=uuid.UUID(body.id),
            round=round_,
            topic=body.topic,
            author_node=body.author_node,
            created_at=datetime.fromisoformat(body.created_at),
        )
    elif outcome.author_node != body.author_node or outcome.round_id != round_.pk:
        raise kinds.Refusal("not_author: this outcome was proposed by another node")
    latest = outcome.latest()
    expected = latest.version + 1 if latest else 1
    if body.version != expected:
        raise kinds.Refusal(f"version_conflict: expected version {expected}, got {body.version}")
    content = signing.outcome_content(outcome, body.version, body.text_en, body.text_zh)
    if signing.content_hash(content) != body.content_sha256:
        raise kinds.Refusal("content_mismatch: the text does not match its SHA-256")
    _check_partner_signature(peer, body.signature, body.content_sha256)
    version = OutcomeVersion.objects.create(
        outcome=outcome,
        version=body.version,
        text_en=body.text_en,
        text_zh=body.text_zh,
        content_sha256=body.content_sha256,
        created_at=datetime.fromisoformat(body.created_at),
    )
    OutcomeSignature.objects.create(version=version, **body.signature.model_dump())
    received(peer, outcome, f"outcome v{body.version}")
    return outcome


def apply_partner_signature(peer: Peer, body: wire.SignatureBody) -> OutcomeSignature:
    """The partner's signature on a version both nodes hold."""
    require_author(peer, body.signature.node, "a signature")
    version = OutcomeVersion.objects.filter(
        outcome_id=body.outcome_id,
        version=body.version,
        outcome__round__dialogue__peers=peer,
    ).first()
    if version is None:
        raise kinds.Refusal("unknown_outcome: no such outcome version with this peer")
    if version.content_sha256 != body.content_sha256:
        raise kinds.Refusal("content_mismatch: the signature covers other content")
    if signing.signed_by(version, body.signature.node):
        raise kinds.Refusal("already_signed: this node already signed this version")
    _check_partner_signature(peer, body.signature, body.content_sha256)
    signature = OutcomeSignature.objects.create(version=version, **body.signature.model_dump())
    received(peer, version.outcome, f"signature v{body.version}")
    return signature
