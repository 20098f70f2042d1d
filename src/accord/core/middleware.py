from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.translation import gettext

from accord.core import twofactor
from accord.core.models import User


class UserLanguageMiddleware:
    """A signed-in user's chosen language wins over the browser's and the
    cookie's, so the choice sticks to the person, not to the machine."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class PermissionsPolicyMiddleware:
    """Permissions-Policy: the pages use no camera, microphone, location,
    payment or USB, so no script (ours or injected) may ask for them."""

    HEADER = ", ".join(
        f"{feature}=()"
        for feature in (
            "camera",
            "microphone",
            "geolocation",
            "payment",
            "usb",
            "serial",
            "bluetooth",
            "display-capture",
            "browsing-topics",
        )
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.HEADER)
        return response


# Set at sign-in for a user who has enrolled an authenticator although their
# role does not require one: they are asked for a code too (core.signals).
ENROLLED_AT_SIGN_IN = "accord_second_factor"
# What a user who still owes a second factor may reach: the sign-in steps and
# the language switch. Everything else (pages and the session API) waits.
_OPEN_TO_UNVERIFIED = ("web:login", "web:logout", "web:set-language")
# Each step's pages: its own, and the passkey ceremony that can stand in for it.
_STEP_VIEWS = {
    "verify": ("web:two-factor-verify", "web:passkey-sign-in-options", "web:passkey-sign-in"),
    "enrol": ("web:two-factor-enrol", "web:passkey-options", "web:passkey-add"),
}


def pending_second_factor(request: HttpRequest) -> str | None:
    """ "verify" or "enrol" while this session's user owes a second factor, else None."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return None
    if twofactor.session_verified(user):
        return None
    if twofactor.required(user):
        return "verify" if twofactor.enrolled(user) else "enrol"
    if request.session.get(ENROLLED_AT_SIGN_IN) and twofactor.enrolled(user):
        return "verify"
    return None


class SecondFactorMiddleware:
    """Holds back a signed-in user who must verify a second factor (or enrol
    one) from every page and from the session-authenticated API until they
    have (issue 14). Federation and TAXII do not use sessions: untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        step = pending_second_factor(request)
        if step is None or self._open(request, step):
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            message = gettext("Verify your second factor on the sign-in page first.")
            return JsonResponse({"detail": message}, status=403)
        return redirect_to_login(request.get_full_path(), reverse(f"web:two-factor-{step}"))

    @staticmethod
    def _open(request: HttpRequest, step: str) -> bool:
        if request.path_info.startswith(settings.STATIC_URL):
            return True
        try:
            name = resolve(request.path_info).view_name
        except Resolver404:
            return False
        return name in _OPEN_TO_UNVERIFIED or name in _STEP_VIEWS[step]


class ApiJsonErrorsMiddleware:
    """Under /api/ every answer is JSON, errors included: what Django answers
    itself (a 404 for a path no operation has, a 405 for a method, a 500 page)
    becomes {"detail": ...}, as django-ninja's own errors are."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        answer = JsonResponse({"detail": response.reason_phrase}, status=response.status_code)
        if response.has_header("Allow"):
            answer["Allow"] = response["Allow"]
        return answer
