"""The one place that answers "which rows may this user see" (STYLE.md 3).

Every model whose rows are not for everyone defines a classmethod
`restriction(user, action) -> Q`; pages, API, exports and search all go through
`Model.objects.restrict(user, action)`."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, user: Any, action: str = "view") -> RestrictedQuerySet:
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        if not getattr(user, "is_active", False):
            return self.none()
        restriction = getattr(self.model, "restriction", None)
        if restriction is None:
            raise TypeError(f"{self.model.__name__} defines no restriction(user, action)")
        condition: Q = restriction(user, action)
        return self.filter(condition)
