from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accord.core.identity import IdentityError, this_node
from accord.web.navigation import areas_for


def shell(request: HttpRequest) -> dict[str, Any]:
    """What every page's frame shows: this node and the areas the user may enter."""
    try:
        node = this_node()
    except IdentityError:
        node = None
    match = getattr(request, "resolver_match", None)
    return {
        "node": node,
        "nav_areas": areas_for(request.user) if request.user.is_authenticated else [],
        "current_url_name": match.view_name if match else "",
    }
