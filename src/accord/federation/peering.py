"""Peering (DESIGN.md, Federation protocol v1: Peering): fetch a node's signed
identity, pin its keys if the fingerprint checked out of band matches, stop
exchanging with a peer, and clear a channel's back-off."""

from __future__ import annotations

import base64

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accord.core import audit, ijson
from accord.core.audit import Actor, AuditAction
from accord.core.calendars import Calendar, CalendarError
from accord.core.canonical import canonical_bytes
from accord.core.identity import NODE_ID_PATTERN, key_fingerprint, this_node
from accord.federation.envelope import b64decode, b64encode
from accord.federation.models import MessageStatus, Peer
from accord.federation.policy import Action, enforce


def _decode_key(document: dict, name: str) -> bytes:
    try:
        raw = base64.b64decode(document["keys"][name]["public_key"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise ValidationError(
            _("The peer's identity document lacks a valid %(name)s key.") % {"name": name}
        ) from None
    if len(raw) != 32:
        raise ValidationError(_("The peer's %(name)s key is not 32 bytes.") % {"name": name})
    return raw


def normalise_fingerprint(text: str) -> str:
    cleaned = text.strip().lower().replace(":", "").replace(" ", "")
    if cleaned.startswith("sha256"):
        cleaned = cleaned[len("sha256") :].lstrip("=")
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise ValidationError(_("A fingerprint is 64 hexadecimal characters (SHA-256)."))
    return cleaned


def fetch_identity(url: str, timeout: float = 10.0) -> dict:
    base = url.rstrip("/")
    try:
        response = httpx.get(base + "/.well-known/accord", timeout=timeout)
        response.raise_for_status()
        return ijson.loads(response.content)
    except (httpx.HTTPError, ValueError) as exc:
        raise ValidationError(
            _("Could not read the peer's identity at %(url)s: %(error)s")
            % {"url": base, "error": exc}
        ) from None


def verify_identity(document: dict, fingerprint: str) -> tuple[bytes, bytes]:
    """The pinned fingerprint vouches for the signing key; the signing key's
    signature over the document vouches for everything else in it."""
    signing = _decode_key(document, "signing")
    encryption = _decode_key(document, "encryption")
    if key_fingerprint(signing) != fingerprint:
        raise ValidationError(
            _(
                "Fingerprint mismatch: the peer's key has fingerprint %(actual)s, "
                "not %(expected)s. Do not peer until you have checked it with the other agency."
            )
            % {"actual": key_fingerprint(signing), "expected": fingerprint}
        )
    signed = {k: v for k, v in document.items() if k not in ("signature", "endpoint")}
    try:
        from nacl.signing import VerifyKey

        VerifyKey(signing).verify(
            canonical_bytes(signed), b64decode(str(document.get("signature", "")), "signature")
        )
    except Exception:
        raise ValidationError(_("The peer's identity document is not signed by its key.")) from None
    if not NODE_ID_PATTERN.match(str(document.get("node_id", ""))):
        raise ValidationError(_("The peer's node id is not valid."))
    return signing, encryption


def holds_central_authority(document: dict) -> bool:
    """What the peer's signed identity says of its role in its party (absent:
    a node made before parties had several agencies, which holds it)."""
    value = document.get("central_authority", True)
    if not isinstance(value, bool):
        raise ValidationError(
            _("The peer's identity says neither yes nor no to central authority.")
        )
    return value


def published_calendar(document: dict) -> Calendar:
    """The working calendar the peer publishes (none: UTC, weekends only)."""
    try:
        return Calendar.from_document(document.get("calendar"))
    except CalendarError as exc:
        raise ValidationError(
            _("The peer's calendar is not valid: %(error)s") % {"error": exc}
        ) from None


def add_peer(actor: Actor, url: str, fingerprint: str, *, ip: str = "") -> Peer:
    enforce(actor, Action.ADD_PEER, ip=ip)
    expected = normalise_fingerprint(fingerprint)
    if not url.startswith(("http://", "https://")):
        raise ValidationError(_("The peer's address must start with http:// or https://."))
    document = fetch_identity(url)
    signing, encryption = verify_identity(document, expected)
    calendar = published_calendar(document)
    central_authority = holds_central_authority(document)
    node_id = document["node_id"]
    if node_id == this_node().node_id:
        raise ValidationError(_("That address is this node itself."))
    with transaction.atomic():
        existing = Peer.objects.select_for_update(no_key=True).filter(node_id=node_id).first()
        if existing is not None and existing.active:
            raise ValidationError(_("%(node)s is already a peer.") % {"node": node_id})
        peer = existing or Peer(node_id=node_id)
        if existing is not None and b64encode(signing) != existing.signing_key:
            # Re-peering with new keys after removal: keep the channel's numbering.
            peer.previous_signing_key = existing.signing_key
        peer.url = url.rstrip("/")
        peer.party = str(document.get("party", ""))[:200]
        peer.agency = str(document.get("agency", ""))[:200]
        peer.central_authority = central_authority
        peer.signing_key = b64encode(signing)
        peer.encryption_key = b64encode(encryption)
        peer.fingerprint = expected
        peer.calendar = calendar.document()
        peer.active = True
        peer.blocked = False
        peer.save()
        audit.record(
            actor,
            AuditAction.PEER_ADD,
            peer,
            data={"node_id": node_id, "url": peer.url, "fingerprint": expected},
            ip=ip,
        )
    return peer


def remove_peer(actor: Actor, peer: Peer, *, ip: str = "") -> Peer:
    """Stop exchanging with a peer. Its history and receipts stay; messages still
    queued for it are kept too, and go out if it is added again."""
    enforce(actor, Action.REMOVE_PEER, peer, ip=ip)
    with transaction.atomic():
        locked = Peer.objects.select_for_update(no_key=True).get(pk=peer.pk)
        pending = locked.outbox.filter(status=MessageStatus.PENDING).count()
        locked.active = False
        locked.save(update_fields=["active"])
        audit.record(
            actor,
            AuditAction.PEER_REMOVE,
            locked,
            data={"node_id": locked.node_id, "pending_kept": pending},
            ip=ip,
        )
    return locked


def retry(actor: Actor, peer: Peer | None = None, *, ip: str = "") -> int:
    """Clear back-off and a permanent block so delivery is tried at once."""
    enforce(actor, Action.RETRY, ip=ip)
    with transaction.atomic():
        peers = Peer.objects.filter(active=True)
        if peer is not None:
            peers = peers.filter(pk=peer.pk)
        # Clearing the lease too lets a deliverer take over at once from one
        # that died holding it (on another machine, where its pid cannot be checked).
        count = peers.update(
            blocked=False, failures=0, next_attempt_at=None, lease_owner="", lease_until=None
        )
        audit.record(
            actor,
            AuditAction.OUTBOX_RETRY,
            data={"peer": peer.node_id if peer else "*", "peers": count},
            ip=ip,
        )
    return count
