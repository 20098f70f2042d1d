"""The shape every state-changing page shares: find the object, call one
service, say what happened, redirect. A refusal or bad input becomes a message
on the next page, never a half-change and never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from accord.core.policy import Refused


def attempt(request: HttpRequest, change: Callable[[], Any], done: str = "") -> bool:
    """Run one service call; report its outcome as a message. True if it took."""
    try:
        change()
    except Refused as exc:
        messages.error(request, exc.message)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You do not have permission to do this."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if done:
            messages.success(request, done)
        return True
    return False


def act(
    request: HttpRequest, change: Callable[[], Any], *, done: str, to: str, **kwargs: Any
) -> HttpResponse:
    """`attempt`, then redirect to the named page (with `kwargs`) either way."""
    attempt(request, change, done)
    return redirect(to, **kwargs)
