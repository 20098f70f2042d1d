from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accord.core.identity import IdentityError, this_node
from accord.core.middleware import pending_second_factor
from accord.web import waiting
from accord.web.navigation import areas_for


def shell(request: HttpRequest) -> dict[str, Any]:
    """What every page's frame shows: this node and the areas the user may enter."""
    try:
        node = this_node()
    except IdentityError:
        node = None
    match = getattr(request, "resolver_match", None)
    signed_in = request.user.is_authenticated and pending_second_factor(request) is None
    return {
        "node": node,
        # No areas to offer before the second factor is verified: none would open.
        "nav_areas": areas_for(request.user) if signed_in else [],
        # A callable: the template calls it only where it shows the count.
        "waiting_count": (lambda: waiting.count_for(request)) if signed_in else 0,
        "current_url_name": match.view_name if match else "",
    }
