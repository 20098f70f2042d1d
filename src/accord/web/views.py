"""Pages. Thin: they read through restricted querysets and change state only
through services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accord.core import audit, services
from accord.core.audit import Actor, AuditAction
from accord.core.auth import SignInForm, recent_bursts
from accord.core.models import AuditEvent, User
from accord.core.policy import offered
from accord.core.roles import Permission, Role
from accord.core.signals import client_ip
from accord.core.user_policy import PERMISSIONS, Action, allowed
from accord.web import waiting
from accord.web.actions import act
from accord.web.forms import (
    ActiveForm,
    AuditFilterForm,
    CreateUserForm,
    PasswordChangeForm,
    RoleForm,
)
from accord.web.guards import SignedInRequest, permission_required, signed_in
from accord.web.navigation import abilities_for, areas_for

AUDIT_PAGE_SIZE = 50


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        language = form.get_user().language
        if language:
            # The browser keeps the user's language after sign-out too.
            set_language_cookie(response, language)
        return response


def set_language_cookie(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        httponly=True,
        secure=settings.HTTPS,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:login")


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch language; for a signed-in user the choice is stored on the user."""
    language = request.POST.get("language", "")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = "/"
    response = HttpResponseRedirect(target)
    if language not in services.LANGUAGE_CODES:
        return response
    if request.user.is_authenticated:
        services.set_language(request.user, language, ip=client_ip(request))
    translation.activate(language)
    set_language_cookie(response, language)
    return response


@permission_required(Permission.VIEW_DASHBOARD)
def dashboard(request: SignedInRequest) -> HttpResponse:
    user = request.user
    role = Role(user.role)
    if user.has_permission(Permission.VIEW_AUDIT):
        audit.seal()  # the recent events include every read so far
    waiting_entries, waiting_counts = waiting.inbox(request)
    context = {
        "role": role,
        "abilities": abilities_for(role),
        "waiting": waiting_entries,
        "waiting_total": sum(waiting_counts.values()),
        "areas": [a for a in areas_for(user) if a.key != "dashboard"],
        "recent_events": AuditEvent.objects.restrict(user).order_by("-seq")[:8],
        "signin_bursts": recent_bursts(user),
        "can_audit": offered(allowed(user, Action.VIEW_AUDIT)),
        "user_count": (
            User.objects.restrict(user).filter(is_active=True).count()
            if offered(allowed(user, Action.VIEW_USERS))
            else None
        ),
    }
    if user.has_permission(Permission.VIEW_REQUESTS):
        from accord.assistance.dashboard import panel

        context["assistance"] = panel(Actor.of(user))
    return render(request, "web/dashboard.html", context)


@signed_in
def password_change(request: SignedInRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.change_password(
                request.user,
                form.cleaned_data["old_password"],
                form.cleaned_data["new_password"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Your password has been changed."))
            return redirect("web:dashboard")
    return render(request, "web/password.html", {"form": form})


@permission_required(PERMISSIONS[Action.VIEW_USERS])
def users(request: SignedInRequest) -> HttpResponse:
    form = CreateUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.create_user(
                Actor.of(request.user),
                data["username"],
                data["role"],
                data["password"],
                email=data["email"],
                full_name=data["full_name"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("User %(name)s created.") % {"name": created.username})
            return redirect("web:users")
    people = [
        (
            person,
            offered(allowed(request.user, Action.CHANGE_ROLE, person)),
            offered(allowed(request.user, Action.SET_ACTIVE, person)),
        )
        for person in User.objects.restrict(request.user).order_by("username")
    ]
    return render(
        request, "web/users.html", {"form": form, "people": people, "roles": Role.choices}
    )


@require_POST
@permission_required(PERMISSIONS[Action.CHANGE_ROLE])
def user_role(request: SignedInRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User.objects.restrict(request.user), pk=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role from the list."))
        return redirect("web:users")
    return act(
        request,
        lambda: services.change_role(
            Actor.of(request.user), person, form.cleaned_data["role"], ip=client_ip(request)
        ),
        done=_("Role of %(name)s saved.") % {"name": person.username},
        to="web:users",
    )


@require_POST
@permission_required(PERMISSIONS[Action.SET_ACTIVE])
def user_active(request: SignedInRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User.objects.restrict(request.user), pk=user_id)
    form = ActiveForm(request.POST)
    form.is_valid()
    active = bool(form.cleaned_data.get("active"))
    text = _("%(name)s can sign in again.") if active else _("%(name)s can no longer sign in.")
    return act(
        request,
        lambda: services.set_active(Actor.of(request.user), person, active, ip=client_ip(request)),
        done=text % {"name": person.username},
        to="web:users",
    )


@permission_required(PERMISSIONS[Action.VIEW_AUDIT])
def audit_log(request: SignedInRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    audit.seal()  # every read so far, in the chain
    events = AuditEvent.objects.restrict(request.user).order_by("-seq")
    if form.is_valid():
        if form.cleaned_data["action"]:
            events = events.filter(action=form.cleaned_data["action"])
        if form.cleaned_data["actor"]:
            events = events.filter(actor__icontains=form.cleaned_data["actor"])
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "web/audit.html", {"form": form, "page": page, "actions": AuditAction.choices}
    )


@require_POST
@permission_required(PERMISSIONS[Action.VERIFY_AUDIT])
def audit_verify(request: SignedInRequest) -> HttpResponse:
    result = services.verify_audit(Actor.of(request.user), ip=client_ip(request))
    if result.ok:
        messages.success(
            request,
            _("The audit log is intact: %(count)s events, head %(head)s.")
            % {"count": result.count, "head": result.head_hash[:16]},
        )
    else:
        messages.error(
            request,
            _("The audit log is broken at event %(seq)s: %(problem)s")
            % {"seq": result.seq, "problem": result.problem},
        )
    return redirect("web:audit")
