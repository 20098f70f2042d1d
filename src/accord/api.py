"""The JSON API (django-ninja, OpenAPI at /api/v1/openapi.json). Handlers are
thin: they read through restricted querysets and change state through services.
Apps add their routers here."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema, Status
from ninja.openapi.schema import OpenAPISchema
from ninja.pagination import paginate
from ninja.parser import Parser
from ninja.security import SessionAuth
from pydantic import Field

from accord import access
from accord.core import audit, ijson, services
from accord.core.apischema import Page, document_errors
from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.models import AuditEvent, User
from accord.core.policy import Refused
from accord.core.roles import ROLE_PERMISSIONS, Permission, Role
from accord.core.signals import client_ip
from accord.core.text import unstorable
from accord.core.user_policy import Action
from accord.web.guards import signed_in_user

log = logging.getLogger(__name__)


class StrictParser(Parser):
    """Bodies are I-JSON (duplicate names, unsafe integers refused: see
    core/ijson.py), and no body or query may carry text no database stores
    (a NUL, a lone surrogate): refused here, the same on both databases."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = ijson.loads(request.body)
        if unstorable(data):
            raise ValidationError(_("Text may not contain NUL characters or lone surrogates."))
        return data

    def parse_querydict(self, data: Any, list_fields: list[str], request: HttpRequest) -> Any:
        parsed = super().parse_querydict(data, list_fields, request)
        if unstorable(parsed):
            raise ValidationError(_("Text may not contain NUL characters or lone surrogates."))
        return parsed


class RoleGate(SessionAuth):
    """A signed-in session whose role holds what accord/access.py's API table
    asks for the operation. It runs before django-ninja reads the body, so
    someone who may not act gets a 403 (audited), never a 422 that lists the
    fields the body lacks. The services check again, object by object."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is None:
            return None
        rule = access.API.get(operation_of(request))
        if rule is None:  # the authorisation matrix test keeps this from happening
            raise PermissionDenied(_("You do not have permission to do this."))
        needed = rule.who if isinstance(rule.who, tuple) else (rule.who,)
        for permission in needed:
            if isinstance(permission, Permission):
                services.require(
                    Actor.of(user), permission, what=operation_of(request), ip=client_ip(request)
                )
        return user


def operation_of(request: HttpRequest) -> str:
    """ "POST /api/v1/users", as access.API and the OpenAPI schema name it."""
    route = request.resolver_match.route if request.resolver_match else ""
    return f"{request.method} /" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


class AccordApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        document_errors(schema)
        return schema


api = AccordApi(
    parser=StrictParser(),
    title="Accord node API",
    version="1",
    urls_namespace="api",
    auth=RoleGate(),
    description="Session-authenticated JSON API of one Accord node.",
)


def _add_routers() -> None:
    from accord.assistance.api import router as assistance
    from accord.cases.api import router as cases
    from accord.dialogue.api import router as dialogue
    from accord.evidence.api import router as evidence
    from accord.evidence.upload_api import router as evidence_uploads
    from accord.federation.api import router as federation
    from accord.matching.api import router as matching
    from accord.web.api import router as web

    api.add_router("/", federation)
    api.add_router("/", assistance)
    api.add_router("/", cases)
    api.add_router("/", dialogue)
    api.add_router("/", matching)
    api.add_router("/", evidence)
    api.add_router("/", evidence_uploads)
    api.add_router("/", web)


@api.exception_handler(PermissionDenied)
def permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=403)


# Every app's refusal (assistance's TransitionRefused, dialogue's NotYours, ...)
# derives from Refused and carries its status.
@api.exception_handler(Refused)
def refused(request: HttpRequest, exc: Refused) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message}, status=exc.status)


@api.exception_handler(RequestDataTooBig)
def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """A JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused before it is read."""
    message = _(
        "The request body is larger than %(mb)s MB: send large files as evidence "
        "items of the request (multipart upload, streamed)."
    ) % {"mb": round(settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1_048_576, 1)}
    return api.create_response(request, {"detail": message}, status=413)


@api.exception_handler(MultiPartParserError)
def unreadable_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    # The client's mistake (say, no boundary): a line in the log, not a traceback.
    log.warning("unreadable multipart body on %s: %s", request.path, exc)
    detail = _("The multipart body cannot be read.")
    return api.create_response(request, {"detail": detail}, status=400)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.messages}, status=422)


def actor(request: HttpRequest) -> Actor:
    return Actor.of(signed_in_user(request))


class MeOut(Schema):
    username: str
    full_name: str
    role: str
    role_label: str
    language: str
    permissions: list[str]


class NodeOut(Schema):
    node_id: str
    party: str
    agency: str
    central_authority: bool
    fingerprint: str
    protocol_version: int


class UserOut(Schema):
    id: int
    username: str
    full_name: str = Field(validation_alias="first_name")
    email: str
    role: str
    is_active: bool
    last_login: datetime | None


class UserIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    role: Role
    password: str = Field(min_length=1, max_length=4096)
    email: str = Field(default="", max_length=254)
    full_name: str = Field(default="", max_length=150)


class AuditEventOut(Schema):
    seq: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    data: dict[str, Any]
    ip: str
    prev_hash: str
    hash: str


class VerifyOut(Schema):
    ok: bool
    count: int
    head_hash: str
    problem: str
    seq: int | None


@api.get("/me", response=MeOut, tags=["core"])
def me(request: HttpRequest) -> dict[str, Any]:
    user = signed_in_user(request)
    return {
        "username": user.username,
        "full_name": user.first_name,
        "role": user.role,
        "role_label": str(user.role_label),
        "language": user.language,
        "permissions": sorted(str(p) for p in ROLE_PERMISSIONS.get(Role(user.role), ())),
    }


@api.get("/node", response=NodeOut, tags=["core"])
def node(request: HttpRequest) -> dict[str, Any]:
    return this_node().public_document()


@api.get("/users", response=list[UserOut], tags=["users"])
@paginate(Page)
def list_users(request: HttpRequest) -> Any:
    services.enforce(actor(request), Action.VIEW_USERS)
    return User.objects.restrict(request.user).order_by("username")


@api.post("/users", response={201: UserOut}, tags=["users"])
def create_user(request: HttpRequest, payload: UserIn) -> Status:
    created = services.create_user(
        actor(request),
        payload.username,
        payload.role,
        payload.password,
        email=payload.email,
        full_name=payload.full_name,
        ip=client_ip(request),
    )
    return Status(201, created)


@api.get("/audit/events", response=list[AuditEventOut], tags=["audit"])
@paginate(Page)
def audit_events(request: HttpRequest, action: str = "") -> Any:
    services.enforce(actor(request), Action.VIEW_AUDIT)
    audit.seal()  # every read so far, in the chain
    events = AuditEvent.objects.restrict(request.user).order_by("seq")
    return events.filter(action=action) if action else events


@api.post("/audit/verify", response=VerifyOut, tags=["audit"])
def audit_verify(request: HttpRequest) -> dict[str, Any]:
    result = services.verify_audit(actor(request), ip=client_ip(request))
    return {
        "ok": result.ok,
        "count": result.count,
        "head_hash": result.head_hash,
        "problem": result.problem,
        "seq": result.seq,
    }


_add_routers()
