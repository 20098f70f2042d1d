"""The one place that answers "which rows may this user see" (STYLE.md 3).

Every model whose rows are not for everyone defines a classmethod
`restriction(user, action) -> Q`; pages, API, exports and search all go through
`Model.objects.restrict(user, action)`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, models, transaction
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


@contextmanager
def one_moment() -> Iterator[None]:
    """Reads that must see the same moment (a row and its children, as a
    replica is compared): one transaction, REPEATABLE READ on PostgreSQL,
    where READ COMMITTED lets each SELECT see a later commit. SQLite's
    transactions read one snapshot already. Inside an outer transaction the
    outer one decides (the level can only be set before its first query)."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if not outer and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
