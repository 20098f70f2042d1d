"""The signer's profile page: the name and title every signature of the user
carries (accord.dialogue.services.signers)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from accord.core.audit import Actor
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.dialogue.services import signers
from accord.web.actions import attempt
from accord.web.guards import permission_required, signed_in_user


@permission_required(Permission.SIGN_OUTCOMES)
def signer(request: HttpRequest) -> HttpResponse:
    actor = Actor.of(signed_in_user(request))
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if request.method == "POST":
        post = request.POST
        changed = attempt(
            request,
            lambda: signers.set_profile(
                actor, post.get("name", ""), post.get("title", ""), ip=client_ip(request)
            ),
            _("Your signer profile is saved: your next signatures carry it."),
        )
        if changed:
            return redirect(back or "dialogue:signer")
    name, title = signers.profile_of(actor)
    return render(request, "dialogue/signer.html", {"name": name, "title": title, "next": back})
