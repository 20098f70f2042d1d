"""Conditions of use that follow an item (DOMAIN.md, "Evidence and custody").

The model, in one place:

* Conditions bind the **partner's material**: an item on a request that this
  node did not collect itself (it has no 'collected' custody record written
  by this node; an item that arrives from the partner is 'received'). What
  this node collected (its own production, a court order it attaches) is
  bound by nothing the partner said.
* They are the request's conditions of acceptance (`accept_with_conditions`,
  or those of spontaneous information) and the provider's restrictions after
  the response (`restrict_use`: restrict, or require deletion), as the shared
  request holds them.
* Enforced on the two uses that take bytes out of the node's keeping:

  ===================  =====================================================
  condition            download / export
  ===================  =====================================================
  deletion required    both refused for everyone: "the provider required
                       deletion on DATE"; the item is due for purge at once
                       (retention.py)
  use restricted       both refused but to the central authority
  speciality           export only with a stated purpose naming the
                       proceedings the material was given for (the
                       request's or its case's reference); download stays
                       within the team and is allowed
  any other condition  export only with a stated purpose (any text): it is
                       recorded in the 'exported' custody record
  ===================  =====================================================

* Every condition is shown on the item, given in the API, and written into
  each court bundle's manifest (`conditions`, as "kind: text").

`check_use` only answers; services.download/export_bundle refuse with its
reason (audited, nothing changed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accord.core.policy import CONFLICT, FORBIDDEN, Refusal
from accord.core.roles import Role

DOWNLOAD = "download"
EXPORT = "export"
USES = (DOWNLOAD, EXPORT)

# The acceptance's kinds (assistance.types.ConditionKind) and the restrictions'
# (assistance.types.RestrictionKind), as the shared request stores them.
SPECIALITY = "speciality"
RESTRICT_USE = "restrict_use"
DELETE = "delete"
RESTRICTIONS = (RESTRICT_USE, DELETE)

LABELS = {
    SPECIALITY: gettext_lazy("Speciality: use only for the stated purpose and case"),
    "confidentiality": gettext_lazy("Confidentiality"),
    "use_limit": gettext_lazy("Limit on use"),
    "no_onward_transfer": gettext_lazy("No onward transfer to third states"),
    "other": gettext_lazy("Other condition"),
    RESTRICT_USE: gettext_lazy("Use restricted by the provider"),
    DELETE: gettext_lazy("The provider required deletion"),
}


@dataclass(frozen=True)
class Condition:
    """One condition on an item: `source` is 'acceptance' or 'restriction';
    `on` the day a restriction was imposed (None for the acceptance's)."""

    kind: str
    text: str
    source: str
    on: date | None = None

    @property
    def label(self) -> str:
        return str(LABELS.get(self.kind, self.kind))

    def manifest_line(self) -> str:
        """As the bundle manifest carries it: "kind: text" ("kind (DATE): text")."""
        when = f" ({self.on.isoformat()})" if self.on else ""
        return f"{self.kind}{when}: {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "text": self.text,
            "source": self.source,
            "on": self.on.isoformat() if self.on else None,
        }


def from_partner(item: Any) -> bool:
    """True for material the partner provided: an item on a request that this
    node did not collect (see the module's docstring)."""
    from accord.core.identity import this_node

    if item.request_id is None:
        return False
    return not item.custody.filter(event="collected", node=this_node().node_id).exists()


def _day(value: Any) -> date | None:
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        return None


def conditions_of(item: Any) -> list[Condition]:
    """The conditions binding the item, the acceptance's first, then each
    restriction in the order the provider imposed them."""
    if not from_partner(item):
        return []
    request = item.request
    found = [
        Condition(
            kind=str(c.get("kind", "other")), text=str(c.get("text", "")), source="acceptance"
        )
        for c in request.conditions or []
        if isinstance(c, dict)
    ]
    for r in request.restrictions or []:
        if isinstance(r, dict) and r.get("kind") in RESTRICTIONS:
            on = _day(r.get("at", ""))
            found.append(Condition(str(r["kind"]), str(r.get("text", "")), "restriction", on))
    return found


def deletion_required(item: Any) -> date | None:
    """The day the provider first required deletion of the item, if it did."""
    days = [c.on or date.min for c in conditions_of(item) if c.kind == DELETE]
    return min(days) if days else None


def proceedings(item: Any) -> list[str]:
    """The references a purpose must name to meet a speciality condition:
    the request the material was given for, and the case it is filed under."""
    request = item.request
    names = [request.reference]
    if request.case_id:
        names.append(request.case.reference)
    return names


def _names(purpose: str, reference: str) -> bool:
    """Whether the purpose names the reference as a whole word (R-1 is not R-12)."""
    pattern = r"(?<![\w-])" + re.escape(reference.casefold()) + r"(?![\w-])"
    return re.search(pattern, purpose.casefold()) is not None


def check_use(actor: Any, item: Any, use: str, purpose: str = "") -> Refusal | None:
    """None if the item's conditions let `actor` put it to `use` now with the
    stated `purpose`, else the refusal naming the condition."""
    if use not in USES:
        raise ValueError(f"unknown use {use!r}")
    found = conditions_of(item)
    if not found:
        return None
    for condition in found:
        if condition.kind == DELETE:
            on = condition.on.isoformat() if condition.on else "?"
            message = _("The provider required deletion on %(d)s: the item is not used any more.")
            return Refusal(message % {"d": on}, CONFLICT)
    user = getattr(actor, "user", None)
    restricted = any(c.kind == RESTRICT_USE for c in found)
    if restricted and (user is None or user.role != Role.CENTRAL_AUTHORITY):
        message = _(
            "The provider restricted the use of this item: "
            "only the central authority may %(use)s it."
        )
        return Refusal(message % {"use": use_label(use)}, FORBIDDEN)
    if use != EXPORT:
        return None
    purpose = (purpose or "").strip()
    if not purpose:
        message = _("This item carries conditions of use: state the purpose of the export.")
        return Refusal(message, 422)
    if any(c.kind == SPECIALITY for c in found):
        allowed = proceedings(item)
        if not any(_names(purpose, reference) for reference in allowed):
            message = _(
                "Speciality: the provider allowed this material only for %(refs)s. "
                "Name those proceedings in the purpose, or ask the provider first."
            )
            return Refusal(message % {"refs": ", ".join(allowed)}, FORBIDDEN)
    return None


def offered(user: Any, item: Any, may: dict[str, bool]) -> dict[str, bool]:
    """policy.offered, less what a deletion request or a restriction forbids
    this user (they forbid download and export alike; a purpose is asked on
    the export form)."""
    from accord.core.audit import Actor

    actor = Actor.of(user) if user is not None else Actor.system()
    if check_use(actor, item, DOWNLOAD) is not None:
        return {**may, DOWNLOAD: False, EXPORT: False}
    return may


def use_label(use: str) -> str:
    return _("download") if use == DOWNLOAD else _("export")


def manifest_lines(item: Any) -> list[str]:
    return [c.manifest_line() for c in conditions_of(item)]


__all__ = [
    "Condition",
    "check_use",
    "conditions_of",
    "deletion_required",
    "from_partner",
    "manifest_lines",
]
