"""This node's blinded sets (docs/matching.md 1.6 and 5.2): one per
observable type, with its secret key, built again under a fresh key when the
node's values of that type change.

Building a set costs one hash-to-point and one scalar multiplication per
value (about 25 s for 1,000,000 values on one core). A small set is built
where it is needed, inside the inbox's transaction; a large one is built by
the task worker outside any transaction (`prepare`), so no write lock is held
while it is computed: on SQLite a 20-second transaction locked every other
writer of the node out."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from accord.cases.models import Observable
from accord.matching import psi
from accord.matching.models import AnswererSet

# A set is built this many times over at most while values keep changing
# under it; then once more inside a transaction, where nothing can.
PREPARE_ATTEMPTS = 3


def fingerprint(code: str) -> str:
    """Changes whenever an observable of this type is added: ids only grow
    (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so the newest id of
    the type names the last addition. One index probe per query, where
    counting and summing the type's ids scanned them all (0.2 to 0.5 s at
    1,000,000 on PostgreSQL, half a repeat query's budget). A removal is
    caught by `forget_on_removal`."""
    newest = (
        Observable.objects.filter(code=code).order_by("-pk").values_list("pk", flat=True).first()
    )
    return f"newest:{newest or 0}"


@receiver(post_delete, sender=Observable)
def forget_on_removal(sender: type[Observable], instance: Observable, **kwargs: Any) -> None:
    """A value removed from the node must leave its blinded set: the next
    query builds the set again (under a new key), in this same transaction
    the removal's. Every removal through the ORM sends this signal, a case's
    cascade too. A set being built (`prepare`) loses its claim the same way."""
    AnswererSet.objects.filter(code=instance.code).update(fingerprint="")


def kept(code: str) -> AnswererSet | None:
    """The set of `code` if it is current, else None; its tags (8 MB for
    1,000,000 values) are read only when they are sent."""
    mark = fingerprint(code)
    row = AnswererSet.objects.select_for_update().defer("tags").filter(code=code).first()
    return row if row is not None and row.fingerprint == mark else None


def small(code: str) -> bool:
    """Whether building the set of `code` is cheap enough for the inbox's
    transaction (ACCORD_MATCHING_INLINE_SET values at most)."""
    limit = settings.MATCHING_INLINE_SET
    return (
        Observable.objects.filter(code=code).values("normal").distinct()[: limit + 1].count()
        <= limit
    )


def current_set(code: str) -> AnswererSet:
    """The set of `code`, built in the caller's transaction when it is not
    current (docs/matching.md 1.8: every version of the set has its own key,
    so an asker cannot re-check old answers against a new version)."""
    row = kept(code)
    if row is not None:
        return row
    mark = fingerprint(code)
    return _store(code, mark, *_build(code))


def prepare(code: str) -> AnswererSet:
    """The set of `code`, built outside any transaction when it is not current.

    The build is claimed first (a token in the row's fingerprint, which no
    query takes for current); a removal meanwhile clears the claim and the
    build starts over, since the set may hold the removed value. A value
    added meanwhile does not: the set is stored under the fingerprint read
    before its values, so the next query sees it is not current."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("prepare builds outside any transaction")
    for _attempt in range(PREPARE_ATTEMPTS):
        with transaction.atomic():
            row = kept(code)
            if row is not None:
                return row
            mark, claim = fingerprint(code), f"building:{uuid.uuid4().hex}"
            _claim(code, claim)
        built = _build(code)
        with transaction.atomic():
            held = AnswererSet.objects.select_for_update().defer("tags").get(code=code)
            if held.fingerprint == claim:
                return _store(code, mark, *built)
    with transaction.atomic():
        return current_set(code)


def _claim(code: str, claim: str) -> None:
    updated = AnswererSet.objects.filter(code=code).update(fingerprint=claim)
    if not updated:  # no set yet: a row with no key holds the claim, and no query takes it
        AnswererSet.objects.create(
            code=code, key="", tags=b"", digest="", size=0, fingerprint=claim
        )


def _build(code: str) -> tuple[psi.Key, psi.BlindedSet]:
    normals = Observable.objects.filter(code=code).values_list("normal", flat=True).distinct()
    key = psi.Key.generate()
    return key, psi.BlindedSet.build(key, [f"{code}:{n}".encode() for n in normals], pad=True)


def _store(code: str, mark: str, key: psi.Key, built: psi.BlindedSet) -> AnswererSet:
    fields = {
        "key": key.scalar.hex(),
        "tags": built.to_bytes(),
        "digest": built.digest,
        "size": len(built),
        "fingerprint": mark,
    }
    row, _created = AnswererSet.objects.update_or_create(code=code, defaults=fields)
    return row
