"""Passkey pages (issue 14): the options a browser's WebAuthn call needs (JSON,
fetched by static/web/passkey.js), and the forms that script submits with the
browser's answer. Thin: the rules are in accord.core.passkeys."""

from __future__ import annotations

import django_otp
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accord.core import passkeys, twofactor
from accord.core.middleware import pending_second_factor
from accord.core.signals import client_ip, signed_in_fully
from accord.web.guards import SignedInRequest, signed_in
from accord.web.twofactor import next_url, show_codes


def _credential(request: SignedInRequest) -> tuple[str, str]:
    return request.POST.get("credential", ""), request.POST.get("error", "")[:100]


@never_cache
@require_POST
@signed_in
def options(request: SignedInRequest) -> JsonResponse:
    """Options for creating a passkey (navigator.credentials.create)."""
    try:
        return JsonResponse(passkeys.registration_options(request, request.user))
    except ValidationError as exc:
        return JsonResponse({"detail": " ".join(exc.messages)}, status=403)


@require_POST
@signed_in
def add(request: SignedInRequest) -> HttpResponse:
    """Keep the passkey the browser made. At a sign-in that still owes a second
    factor, this passkey is it: the sign-in completes."""
    user = request.user
    signing_in = pending_second_factor(request) == "enrol"
    back = "web:two-factor-enrol" if signing_in else "web:two-factor"
    credential, error = _credential(request)
    try:
        device, codes = passkeys.add(
            request, user, credential, request.POST.get("name", ""), error=error
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"{reverse(back)}?{urlencode({'next': next_url(request)})}")
    if not twofactor.session_verified(user):
        django_otp.login(request, device)
        if signing_in:
            signed_in_fully(request, user, "passkey enrolled")
    if codes:
        return show_codes(request, codes, next_url(request))
    messages.success(request, _("Passkey %(name)s added.") % {"name": device.name})
    return redirect("web:two-factor")


@never_cache
@require_POST
@signed_in
def sign_in_options(request: SignedInRequest) -> JsonResponse:
    """Options for signing with one of this user's passkeys (navigator.credentials.get)."""
    try:
        return JsonResponse(passkeys.sign_in_options(request, request.user))
    except ValidationError as exc:
        return JsonResponse({"detail": " ".join(exc.messages)}, status=400)


@require_POST
@signed_in
def sign_in(request: SignedInRequest) -> HttpResponse:
    """The sign-in's second step with a passkey instead of a code."""
    credential, error = _credential(request)
    try:
        device = passkeys.verify(request, request.user, credential, error=error)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        verify_page = reverse("web:two-factor-verify")
        return redirect(f"{verify_page}?{urlencode({'next': next_url(request)})}")
    django_otp.login(request, device)
    signed_in_fully(request, request.user, "passkey")
    return redirect(next_url(request))


@require_POST
@signed_in
def remove(request: SignedInRequest, pk: int) -> HttpResponse:
    try:
        device = passkeys.remove(request.user, pk, ip=client_ip(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Passkey %(name)s removed.") % {"name": device.name})
    return redirect("web:two-factor")
