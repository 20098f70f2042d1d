"""Who may receive an object: the release rules, in one place. TLP:RED never
leaves the node; nothing is released past its expiry; an originator's
handling code keeps an object from the ways out it names (docs/intel.md,
"Handling conditions"). Pages, TAXII reads, exports, deletions and the
federation push all ask `released`."""

from __future__ import annotations

from enum import StrEnum

from django.db.models import QuerySet
from django.utils import timezone

from accord.intel.models import HandlingCode, StixObject, Tlp

# Objects never released to a partner, whatever its grant.
UNRELEASABLE = (Tlp.RED,)


class Audience(StrEnum):
    """Who an object would go to. LOCAL: this node's own users, in its pages.
    PARTNER: a TAXII account (a partner tool of this country). PEER: a
    foreign node, through the federation channel. EXPORT: a bundle file."""

    LOCAL = "local"
    PARTNER = "partner"
    PEER = "peer"
    EXPORT = "export"


# Handling codes that keep an object from each way out, on every node the
# conditions bind (docs/intel.md, "Handling conditions"). Foreign peers get
# nothing that came with conditions from elsewhere.
WITHHELD_FROM: dict[Audience, list[str]] = {
    Audience.PARTNER: [HandlingCode.PERMISSION, HandlingCode.AGENCY, HandlingCode.NONE],
    Audience.EXPORT: [HandlingCode.NONE],
    Audience.PEER: list(HandlingCode.values),
}

# The ways out of the node, in the order the object page lists them.
WAYS_OUT = (Audience.PARTNER, Audience.PEER, Audience.EXPORT)


def released(rows: QuerySet[StixObject], audience: Audience) -> QuerySet[StixObject]:
    """What may go to `audience`: never TLP:RED, nothing past its expiry, and
    nothing the originator's handling code keeps from it."""
    if audience == Audience.LOCAL:
        return rows
    rows = rows.exclude(tlp__in=UNRELEASABLE).exclude(expires__lte=timezone.now())
    return rows.exclude(handling_bound=True, handling__in=WITHHELD_FROM[audience])


def open_to(row: StixObject) -> list[Audience]:
    """The ways out this version may take now."""
    this = StixObject.objects.filter(pk=row.pk)
    return [audience for audience in WAYS_OUT if released(this, audience).exists()]


def was_sent(rows: QuerySet[StixObject]) -> bool:
    """Whether a peer may hold one of these rows: a version that has expired
    since may have gone out before (a TLP:RED one never did)."""
    return (
        rows.exclude(tlp__in=UNRELEASABLE)
        .filter(handling_bound=False, expires__isnull=False)
        .exists()
    )
