"""Key rotation (DESIGN.md, Peering): a node announces its new keys in a
message signed by its old key, in seq order with everything else it sends, so
each peer switches over exactly between two messages and loses none."""

from __future__ import annotations

import base64

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.identity import b64, install_rotated_keys, key_fingerprint, this_node
from accord.federation.models import Peer
from accord.federation.outbox import enqueue
from accord.federation.policy import Action, enforce
from accord.federation.wire import ROTATION_KIND, RotationBody

STAGED = ".next"


def accept_peer_keys(peer: Peer, body: RotationBody) -> None:
    """A peer announced new keys (checked by `inbound`): trust them from the
    next message on, and keep its old signing key until it stops using it."""
    old_fingerprint = peer.fingerprint
    peer.previous_signing_key = peer.signing_key
    peer.signing_key = body.signing_key
    peer.encryption_key = body.encryption_key
    peer.fingerprint = key_fingerprint(base64.b64decode(body.signing_key))
    peer.save(
        update_fields=["previous_signing_key", "signing_key", "encryption_key", "fingerprint"]
    )
    audit.record(
        Actor(label=f"peer:{peer.node_id}"),
        AuditAction.PEER_KEYS_ROTATED,
        peer,
        data={"from": old_fingerprint, "to": peer.fingerprint},
    )


def rotate_keys(actor: Actor) -> str:
    """Generate new keys, announce them to every active peer (sealed and signed
    with the old keys), then make them current. Returns the new fingerprint."""
    enforce(actor, Action.ROTATE_KEYS)
    data_dir = settings.DATA_DIR
    node = this_node()
    signing, encryption = SigningKey.generate(), PrivateKey.generate()
    body = RotationBody(
        signing_key=b64(bytes(signing.verify_key)),
        encryption_key=b64(bytes(encryption.public_key)),
    )
    fingerprint = key_fingerprint(bytes(signing.verify_key))
    with transaction.atomic():
        peers = list(Peer.objects.select_for_update(no_key=True).filter(active=True))
        waiting = [p.node_id for p in peers if p.sign_with_previous]
        if waiting:
            # A second rotation now would overwrite the only key these peers trust.
            raise ValidationError(
                _("The last key rotation has not reached %(peers)s yet; rotate again later.")
                % {"peers": ", ".join(waiting)}
            )
        for peer in peers:
            enqueue(peer, ROTATION_KIND, body)
        Peer.objects.filter(pk__in=[p.pk for p in peers]).update(sign_with_previous=True)
        audit.record(
            actor,
            AuditAction.KEYS_ROTATE,
            target_type="core.node",
            target_id=node.node_id,
            data={"from": node.fingerprint, "to": fingerprint, "peers": [p.node_id for p in peers]},
        )
        # Installed only if the announcements commit; if the swap itself fails,
        # the transaction rolls back and nothing was announced.
        install_rotated_keys(data_dir, signing, encryption)
    return fingerprint
