"""Reads of intelligence, audited (issue 14, finding 8): the object page, the
search, and the TAXII reads (objects, one object, its versions, the
manifest). One event per HTTP request, naming what it returned (the object
ids and their count), so a page of a thousand objects is one event, not a
thousand.

The events go through `audit.record_read`, as reads of requests do: staged by
one insert that waits for no one and chained into the log by the next seal
that finds the chain's head free (docs/operations.md, "Audit log"). A partner
tool polling a collection therefore never queues behind another reader or
behind a change, and the log anyone reads still holds every read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.intel.models import Collection, StixObject

# A TAXII page holds at most queries.MAX_PAGE objects; a filter value is kept
# as far as an auditor needs it to recognise the query.
MAX_FILTERS, MAX_FILTER_TEXT = 20, 200


def record(
    actor: Actor,
    how: str,
    rows: Sequence[StixObject],
    *,
    collection: Collection | None = None,
    filters: Mapping[str, str | list[str]] | None = None,
    ip: str = "",
) -> None:
    """One audit event for one HTTP request's read of `rows`."""
    data: dict[str, object] = {
        "how": how,
        "count": len(rows),
        "ids": list(dict.fromkeys(row.stix_id for row in rows)),
    }
    kept = {
        key[:MAX_FILTER_TEXT]: (value if isinstance(value, str) else ",".join(value))[
            :MAX_FILTER_TEXT
        ]
        for key, value in list((filters or {}).items())[:MAX_FILTERS]
        if value
    }
    if kept:
        data["filters"] = kept
    audit.record_read(actor, AuditAction.INTEL_READ, collection, data=data, ip=ip)
