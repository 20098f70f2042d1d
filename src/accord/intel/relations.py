"""An object's relationships and sightings as people read them: in their real
direction, each end named ("indicator 203.0.113.9 indicates malware Emotet"),
not as raw ids. An end this node does not hold is shown by its id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from accord.core.models import User
from accord.intel.models import StixObject

LIMIT = 100


@dataclass(frozen=True)
class End:
    stix_id: str
    kind: str  # the STIX type, from the id
    name: str  # empty when the object is not held here
    pk: int | None  # its page, None for the object shown or one not held
    current: bool


@dataclass(frozen=True)
class Link:
    row: StixObject  # the relationship or sighting itself
    source: End
    verb: str
    target: End | None


def title_of(data: dict[str, Any], fallback: str) -> str:
    return str(data.get("name") or data.get("value") or data.get("pattern") or fallback)


def links_of(user: User, row: StixObject) -> list[Link]:
    """The relationships and sightings that name `row`, newest versions only."""
    related = StixObject.objects.filter(
        collection=row.collection, latest=True, stix_type__in=("relationship", "sighting")
    )
    found = []
    for rel in related.filter(body__contains=row.stix_id).exclude(pk=row.pk)[:LIMIT]:
        data = json.loads(rel.body)
        if rel.stix_type == "sighting":
            where = data.get("where_sighted_refs") or []
            ends = (data.get("sighting_of_ref"), where[0] if where else None)
            verb = _("was sighted by") if ends[1] else _("was sighted")
        else:
            ends = (data.get("source_ref"), data.get("target_ref"))
            verb = str(data.get("relationship_type") or "related-to").replace("-", " ")
        if not isinstance(ends[0], str) or row.stix_id not in (ends[0], ends[1]):
            continue
        found.append((rel, ends[0], verb, ends[1] if isinstance(ends[1], str) else None))
    names = _names(user, row, {ref for _r, a, _v, b in found for ref in (a, b) if ref})
    return [
        Link(rel, _end(source, row, names), verb, _end(target, row, names) if target else None)
        for rel, source, verb, target in found
    ]


def _names(user: User, row: StixObject, refs: set[str]) -> dict[str, tuple[str, int]]:
    """Each held end's name and page, preferring the copy in the row's own collection."""
    held = (
        StixObject.objects.restrict(user)
        .filter(latest=True, stix_id__in=sorted(refs)[:500])
        .only("pk", "stix_id", "body", "collection_id")
    )
    names: dict[str, tuple[str, int]] = {}
    for other in sorted(held, key=lambda o: o.collection_id != row.collection_id, reverse=True):
        names[other.stix_id] = (title_of(json.loads(other.body), ""), other.pk)
    return names


def _end(ref: str, row: StixObject, names: dict[str, tuple[str, int]]) -> End:
    kind = ref.split("--", 1)[0]
    if ref == row.stix_id:
        return End(ref, kind, title_of(json.loads(row.body), ""), None, True)
    name, pk = names.get(ref, ("", None))
    return End(ref, kind, name, pk, False)
