"""The TAXII 2.1 server (OASIS TAXII 2.1): discovery, one API root, collections,
objects, versions, manifests and status. Partner tools authenticate with HTTP
Basic or a Bearer token; rights are per collection. Every error is a TAXII
error object with its HTTP code."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from accord.core import ijson, tally
from accord.core.audit import Actor
from accord.core.identity import this_node
from accord.core.signals import client_ip
from accord.intel import accounts, policy, queries, reads, stix
from accord.intel.deletion import delete_object
from accord.intel.ingest import ingest
from accord.intel.models import Account, Collection, Status
from accord.intel.queries import BadFilter, filtered
from accord.intel.release import Audience

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
API_ROOT = "api1"
TITLES = {403: "Forbidden", 404: "Not Found"}
PARTNER = Audience.PARTNER  # every read here is a partner tool's


def error(status: int, title: str, description: str = "") -> HttpResponse:
    body = {"title": title, "description": description, "http_status": str(status)}
    response = HttpResponse(json.dumps(body), status=status, content_type=TAXII)
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="TAXII", Bearer'
    return response


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    response = HttpResponse(text, status=status, content_type=TAXII)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _media_ok(header: str, *, accept: bool) -> bool:
    """TAXII 2.1 §1.6: the TAXII media type, version 2.1 (or unversioned)."""
    for part in header.split(","):
        kind, *params = [p.strip().lower() for p in part.split(";")]
        versions = [p.split("=", 1)[1] for p in params if p.startswith("version=")]
        if kind == "application/taxii+json" and (not versions or versions == ["2.1"]):
            return True
        if accept and kind in ("*/*", "application/*") and not versions:
            return True
    return False


def _account(request: HttpRequest) -> Account | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            name, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return accounts.authenticate_basic(request, name, password)
    # "Token" too: an alias for Bearer that some clients send.
    if scheme.lower() in ("bearer", "token") and value.strip():
        return accounts.authenticate_token(value.strip(), client_ip(request))
    return None


View = Callable[..., HttpResponse]


def endpoint(view: View) -> View:
    """Authentication and content negotiation, before anything else runs."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            account = _account(request)
        except accounts.Throttled:
            # Past the allowance at this name (core.auth), or of this address (core.tally).
            response = error(429, "Too Many Requests", "Too many failed sign-ins; try later.")
            response["Retry-After"] = str(
                max(settings.LOGIN_LOCK_MINUTES * 60, tally.retry_after_seconds())
            )
            return response
        if account is None:
            return error(401, "Unauthorized", "Give valid credentials (HTTP Basic or Bearer).")
        if not _media_ok(request.META.get("HTTP_ACCEPT", TAXII), accept=True):
            return error(406, "Not Acceptable", f"This server answers in {TAXII}.")
        request.taxii_account = account  # type: ignore[attr-defined]
        return view(request, account, *args, **kwargs)

    return wrapper


def _collection(
    request: HttpRequest, account: Account, collection_id: str, *, write: bool = False
) -> Collection | HttpResponse:
    try:
        found = Collection.objects.filter(pk=UUID(collection_id)).first()
    except ValueError:
        found = None
    if found is None:
        return error(404, "Not Found", "No such collection for this account.")
    refusal = policy.reach(account, found, write=write)
    if refusal is not None:
        # Audited, as every refused intel action is; the account is told no
        # more than before (a collection it holds no right on does not exist).
        what = "taxii_write" if write else "taxii_read"
        policy.note_refused(_actor(account), what, refusal, found, ip=client_ip(request))
        return error(refusal.status, TITLES[refusal.status], refusal.reason)
    return found


def _actor(account: Account) -> Actor:
    return Actor(label=f"taxii:{account.name}")


@endpoint
def discovery(request: HttpRequest, account: Account) -> HttpResponse:
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    node = this_node()
    root = request.build_absolute_uri(f"/taxii2/{API_ROOT}/")
    return reply(
        {
            "title": f"Accord {node.node_id}",
            "description": f"{node.agency}, {node.party}",
            "default": root,
            "api_roots": [root],
        }
    )


@endpoint
def api_root(request: HttpRequest, account: Account, root: str) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    return reply(
        {
            "title": "Accord intelligence",
            "versions": [TAXII],
            "max_content_length": settings.TAXII_MAX_CONTENT_LENGTH,
        }
    )


def _collection_json(collection: Collection, can_read: bool, can_write: bool) -> dict[str, Any]:
    return {
        "id": str(collection.pk),
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "can_read": can_read,
        "can_write": can_write,
        "media_types": [STIX],
    }


@endpoint
def collections(request: HttpRequest, account: Account, root: str) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    items = [_collection_json(c, r, w) for c, r, w in policy.collections_for(account)]
    return reply({"collections": items} if items else {})


@endpoint
def collection(
    request: HttpRequest, account: Account, root: str, collection_id: str
) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    found = _collection(request, account, collection_id)
    if isinstance(found, HttpResponse):
        return found
    return reply(_collection_json(found, *policy.rights(account, found)))


def _params(request: HttpRequest) -> dict[str, list[str]]:
    return {key: request.GET.getlist(key) for key in request.GET}


def _audit_read(
    request: HttpRequest, account: Account, how: str, found: Collection, result: queries.Page
) -> None:
    """One event per TAXII read, naming the objects it returned (intel.reads)."""
    reads.record(
        _actor(account),
        how,
        result.rows,
        collection=found,
        filters=_params(request),
        ip=client_ip(request),
    )


def _page_headers(result: queries.Page) -> dict[str, str]:
    if not result.rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": stix.timestamp(result.rows[0].date_added),
        "X-TAXII-Date-Added-Last": stix.timestamp(result.rows[-1].date_added),
    }


def _envelope(result: queries.Page) -> str:
    head = '{"more":' + ("true" if result.more else "false")
    if result.next:
        head += ',"next":' + json.dumps(result.next)
    if not result.rows:
        return head + "}"
    return head + ',"objects":[' + ",".join(row.body for row in result.rows) + "]}"


@endpoint
def objects(request: HttpRequest, account: Account, root: str, collection_id: str) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method == "POST":
        return _add_objects(request, account, collection_id)
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    found = _collection(request, account, collection_id)
    if isinstance(found, HttpResponse):
        return found
    try:
        rows = filtered(found, _params(request), audience=PARTNER)
        result = queries.page(rows, request.GET.get("limit"), request.GET.get("next"))
    except BadFilter as exc:
        return error(400, "Bad Request", str(exc))
    _audit_read(request, account, "taxii_objects", found, result)
    return reply(_envelope(result), headers=_page_headers(result))


def _add_objects(request: HttpRequest, account: Account, collection_id: str) -> HttpResponse:
    found = _collection(request, account, collection_id, write=True)
    if isinstance(found, HttpResponse):
        return found
    if not _media_ok(request.META.get("CONTENT_TYPE", ""), accept=False):
        return error(415, "Unsupported Media Type", f"Send {TAXII}.")
    limit = settings.TAXII_MAX_CONTENT_LENGTH
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return error(413, "Request Entity Too Large", f"At most {limit} bytes per request.")
    if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django reads no body without a Content-Length: say so, not "not JSON".
        return error(411, "Length Required", "Send the envelope with a Content-Length.")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return error(413, "Request Entity Too Large", f"At most {limit} bytes per request.")
    try:
        # Duplicate names refused (I-JSON); NaN and the like are left to the
        # per-object checks, which refuse that object and keep the others.
        envelope = json.loads(raw, object_pairs_hook=ijson.unique_members)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return error(400, "Bad Request", "The body is not JSON.")
    items = envelope.get("objects") if isinstance(envelope, dict) else None
    if not isinstance(items, list):
        return error(400, "Bad Request", 'Send an envelope: {"objects": [...]}.')
    status = ingest(found, items, account, _actor(account))
    return reply(status_json(status), status=202)


def status_json(status: Status) -> dict[str, Any]:
    return {
        "id": str(status.pk),
        "status": status.status,
        "request_timestamp": stix.timestamp(status.request_timestamp),
        "total_count": status.total_count,
        "success_count": status.success_count,
        "successes": status.successes,
        "failure_count": status.failure_count,
        "failures": status.failures,
        "pending_count": status.pending_count,
        "pendings": status.pendings,
    }


@endpoint
def object_detail(
    request: HttpRequest, account: Account, root: str, collection_id: str, object_id: str
) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method == "DELETE":
        found = _collection(request, account, collection_id, write=True)
        if isinstance(found, HttpResponse):
            return found
        try:
            count = delete_object(found, object_id, _params(request), _actor(account), PARTNER)
        except BadFilter as exc:
            return error(400, "Bad Request", str(exc))
        return HttpResponse(status=200) if count else error(404, "Not Found", "No such object.")
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    found = _collection(request, account, collection_id)
    if isinstance(found, HttpResponse):
        return found
    try:
        rows = filtered(found, _params(request), audience=PARTNER, object_id=object_id)
        result = queries.page(rows, request.GET.get("limit"), request.GET.get("next"))
    except BadFilter as exc:
        return error(400, "Bad Request", str(exc))
    if not result.rows and not request.GET.get("next"):
        return error(404, "Not Found", "No such object.")
    _audit_read(request, account, "taxii_object", found, result)
    return reply(_envelope(result), headers=_page_headers(result))


@endpoint
def versions(
    request: HttpRequest, account: Account, root: str, collection_id: str, object_id: str
) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    found = _collection(request, account, collection_id)
    if isinstance(found, HttpResponse):
        return found
    params = {**_params(request), "match[version]": ["all"]}
    try:
        rows = filtered(found, params, audience=PARTNER, object_id=object_id)
        result = queries.page(rows, request.GET.get("limit"), request.GET.get("next"))
    except BadFilter as exc:
        return error(400, "Bad Request", str(exc))
    if not result.rows and not request.GET.get("next"):
        return error(404, "Not Found", "No such object.")
    _audit_read(request, account, "taxii_versions", found, result)
    body: dict[str, Any] = {"more": result.more, "versions": [r.version for r in result.rows]}
    if result.next:
        body["next"] = result.next
    return reply(body, headers=_page_headers(result))


@endpoint
def manifest(request: HttpRequest, account: Account, root: str, collection_id: str) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    found = _collection(request, account, collection_id)
    if isinstance(found, HttpResponse):
        return found
    try:
        rows = filtered(found, _params(request), audience=PARTNER)
        result = queries.page(rows, request.GET.get("limit"), request.GET.get("next"))
    except BadFilter as exc:
        return error(400, "Bad Request", str(exc))
    _audit_read(request, account, "taxii_manifest", found, result)
    body: dict[str, Any] = {"more": result.more}
    if result.next:
        body["next"] = result.next
    if result.rows:
        body["objects"] = [
            {
                "id": r.stix_id,
                "date_added": stix.timestamp(r.date_added),
                "version": r.version,
                "media_type": STIX,
            }
            for r in result.rows
        ]
    return reply(body, headers=_page_headers(result))


@endpoint
def status(request: HttpRequest, account: Account, root: str, status_id: str) -> HttpResponse:
    if root != API_ROOT:
        return error(404, "Not Found", "No such API root.")
    if request.method != "GET":
        return error(405, "Method Not Allowed")
    try:
        found = Status.objects.filter(pk=UUID(status_id), account=account).first()
    except ValueError:
        found = None
    if found is None:
        return error(404, "Not Found", "No such status.")
    return reply(status_json(found))
