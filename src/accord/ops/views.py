"""GET /metrics: the node's metrics for Prometheus (accord.ops.metrics).

Prometheus presents the bearer token set in ACCORD_METRICS_TOKEN; a signed-in
node administrator or auditor may read the page too. A request that proves
neither is counted in core.tally (channel "metrics"), not audited one by one:
a misconfigured scraper asks every few seconds, and the audit log gets one
summary per window. A signed-in user without the permission is refused and
audited like any other refusal."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from accord.core import services, tally
from accord.core.audit import Actor
from accord.core.roles import Permission
from accord.core.signals import client_ip
from accord.ops.metrics import exposition
from accord.web.guards import signed_in_user

BEARER = "Bearer "


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    ip = client_ip(request)
    presented = request.headers.get("Authorization", "")
    if presented.startswith(BEARER) and token_matches(presented[len(BEARER) :].strip()):
        return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    if not presented and request.user.is_authenticated:
        user = signed_in_user(request)
        services.require(Actor.of(user), Permission.VIEW_METRICS, what="metrics", ip=ip)
        return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    if tally.over_limit(tally.Channel.METRICS, ip):
        answer = HttpResponse(_("Too many failed requests; try again later."), status=429)
        answer["Retry-After"] = str(tally.retry_after_seconds())
        return answer
    tally.count(tally.Channel.METRICS, "wrong_token" if presented else "no_credentials", ip)
    answer = HttpResponse(_("A valid bearer token or a signed-in session is required."), status=401)
    answer["WWW-Authenticate"] = 'Bearer realm="accord-metrics"'
    return answer


def token_matches(token: str) -> bool:
    """Compared in constant time, as digests, so that neither the content nor
    the length of the configured token shows in the time taken."""
    if not settings.METRICS_TOKEN or not token:
        return False
    expected = hashlib.sha256(settings.METRICS_TOKEN.encode()).digest()
    return hmac.compare_digest(hashlib.sha256(token.encode()).digest(), expected)
