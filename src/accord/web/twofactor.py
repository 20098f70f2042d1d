"""Second-factor pages (issue 14): the code asked after the password, setting up
an authenticator, recovery codes, and an administrator's reset. Thin: the rules
are in accord.core.twofactor."""

from __future__ import annotations

import django_otp
import segno
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.core import passkeys, twofactor
from accord.core.audit import Actor
from accord.core.models import User
from accord.core.signals import client_ip, signed_in_fully
from accord.core.user_policy import PERMISSIONS, Action
from accord.web.actions import act
from accord.web.forms import CodeForm
from accord.web.guards import SignedInRequest, permission_required, signed_in

QR_SCALE = 4


def next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return "/"


@signed_in
def overview(request: SignedInRequest) -> HttpResponse:
    user = request.user
    context = {
        "enrolled": twofactor.enrolled(user),
        "authenticator": twofactor.has_authenticator(user),
        "passkeys": passkeys.passkeys_of(user),
        "required": twofactor.required(user),
        "codes_left": twofactor.recovery_codes_left(user),
    }
    return render(request, "web/two_factor.html", context)


@signed_in
def verify(request: SignedInRequest) -> HttpResponse:
    """The step after the password: a code from the authenticator, or a recovery code."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = twofactor.verify(
                request.user, form.cleaned_data["code"], ip=client_ip(request)
            )
        except ValidationError as exc:
            form.add_error("code", exc)
        else:
            django_otp.login(request, device)
            used = (
                "recovery code" if isinstance(device, twofactor.StaticDevice) else "authenticator"
            )
            signed_in_fully(request, request.user, used)
            if isinstance(device, twofactor.StaticDevice):
                messages.warning(
                    request,
                    _("You signed in with a recovery code; %(count)s are left.")
                    % {"count": twofactor.recovery_codes_left(request.user)},
                )
            return redirect(next_url(request))
    context = {
        "form": form,
        "next": next_url(request),
        "passkeys": passkeys.passkeys_of(request.user),
        "authenticator": twofactor.has_authenticator(request.user),
    }
    return render(request, "web/two_factor_verify.html", context)


@signed_in
def enrol(request: SignedInRequest) -> HttpResponse:
    """Set up (or replace) the authenticator: scan or type the secret, then
    prove it with a code. The recovery codes are shown on the answer, once."""
    user = request.user
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = twofactor.confirm_authenticator(
                user, form.cleaned_data["code"], ip=client_ip(request)
            )
        except ValidationError as exc:
            form.add_error("code", exc)
        else:
            # A role that needs a code, not yet verified: this is its sign-in's code step.
            signing_in = twofactor.required(user) and not twofactor.session_verified(user)
            django_otp.login(request, enrolment.device)
            if signing_in:
                signed_in_fully(request, user, "authenticator enrolled")
            return show_codes(request, enrolment.recovery_codes, next_url(request))
    device = twofactor.pending_authenticator(user)
    uri = twofactor.provisioning_uri(device)
    context = {
        "form": form,
        "next": next_url(request),
        # Inline SVG: no script, no external fetch, nothing a strict CSP forbids.
        "qr_svg": segno.make(uri, error="m").svg_inline(scale=QR_SCALE, title=_("QR code")),
        "secret": twofactor.secret_of(device),
        "uri": uri,
        "required": twofactor.required(user),
    }
    return render(request, "web/two_factor_enrol.html", context)


@require_POST
@signed_in
def new_recovery_codes(request: SignedInRequest) -> HttpResponse:
    try:
        codes = twofactor.regenerate_recovery_codes(request.user, ip=client_ip(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("web:two-factor")
    return show_codes(request, codes, "/")


def show_codes(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    """Shown on this one answer only: the node keeps no way to show them again."""
    response = render(request, "web/two_factor_codes.html", {"codes": codes, "next": next_url})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@permission_required(PERMISSIONS[Action.RESET_SECOND_FACTOR])
def reset(request: SignedInRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User.objects.restrict(request.user), pk=user_id)
    return act(
        request,
        lambda: twofactor.reset(Actor.of(request.user), person, ip=client_ip(request)),
        done=_("The second factor of %(name)s was reset; they set up a new one at sign-in.")
        % {"name": person.username},
        to="web:users",
    )
