"""Sign-in throttling: after too many failed sign-ins for one account within a
window, that account cannot sign in until the window has passed. Failures are
counted from the audit log, so every web process agrees and nothing else has
to be stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import forms
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accord.core.audit import AuditAction
from accord.core.models import AuditEvent


def is_locked(username: str) -> bool:
    since = datetime.now(UTC) - timedelta(minutes=settings.LOGIN_LOCK_MINUTES)
    failures = AuditEvent.objects.filter(
        action=AuditAction.LOGIN_FAILED, target_id=username[:150], at__gte=since
    ).count()
    return failures >= settings.LOGIN_MAX_FAILURES


class ThrottledBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username and is_locked(username):
            # Django then reports a failed sign-in, which is audited like any other.
            raise PermissionDenied("too many failed sign-ins")
        return super().authenticate(request, username=username, password=password, **kwargs)


class SignInForm(forms.AuthenticationForm):
    error_messages = {
        **forms.AuthenticationForm.error_messages,
        "locked": _("Too many failed sign-ins for this account. Try again in %(minutes)s minutes."),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username and is_locked(username):
            try:
                super().clean()
            except ValidationError:
                pass
            raise ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": settings.LOGIN_LOCK_MINUTES},
            )
        return super().clean()
