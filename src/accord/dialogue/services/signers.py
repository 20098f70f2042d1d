"""How each signer is named in the signatures they make: a profile the
signer keeps (name and title), read at every signature, so a signature shows
the signer's name and title without them being typed anew each time."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.dialogue.fields import actor_name, clean_text
from accord.dialogue.models import SignerProfile
from accord.dialogue.policy import Action, require_permission


def profile_of(actor: Actor) -> tuple[str, str]:
    """(name, title) as the actor signs: the profile's, the name falling back
    to the user's full name (or user name)."""
    found = None
    if actor.user is not None:
        found = SignerProfile.objects.filter(user=actor.user).first()
    name = (found.name if found else "") or actor_name(actor)
    return name, found.title if found else ""


@audit.refusals_kept()
def set_profile(actor: Actor, name: str, title: str, *, ip: str = "") -> SignerProfile:
    """Who may sign outcomes keeps the name and title they sign with."""
    require_permission(actor, Action.SIGN_OUTCOME, ip=ip)
    if actor.user is None:  # a person signs, never the shell
        raise ValidationError(_("Only a signed-in user keeps a signer profile."))
    name = clean_text(name, _("Name as signed"), required=False, limit=300)
    title = clean_text(title, _("Title as signed"), required=False, limit=300)
    with transaction.atomic():
        found, _created = SignerProfile.objects.update_or_create(
            user=actor.user, defaults={"name": name, "title": title}
        )
        audit.record(
            actor,
            AuditAction.DIALOGUE_CHANGE,
            target_type="dialogue.signer",
            target_id=str(actor.user.pk),
            data={"what": "signer-profile", "name": name, "title": title},
            ip=ip,
        )
    return found
