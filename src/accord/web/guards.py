"""View decorators that put every page behind the services' permission check."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accord.core import services
from accord.core.audit import Actor
from accord.core.models import User
from accord.core.roles import Permission
from accord.core.signals import client_ip

View = Callable[..., HttpResponse]


class SignedInRequest(HttpRequest):
    """What a view behind `signed_in` or `permission_required` receives: its
    user is signed in, so `request.user` is a `User` (django-stubs' pattern)."""

    user: User


def signed_in_user(request: HttpRequest) -> User:
    """The user of a request that a guard or the API's session auth let through;
    an anonymous one here is a wiring mistake, refused rather than served."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def signed_in(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def permission_required(permission: Permission) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            services.require(
                Actor.of(signed_in_user(request)),
                permission,
                what=view.__name__,
                ip=client_ip(request),
            )
            return view(request, *args, **kwargs)

        return signed_in(wrapper)

    return decorate
