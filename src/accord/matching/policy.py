"""Who may do what with hit/no-hit, now. `allowed(user, action, obj)` returns
a `Refusal` with its reason and status, or None; the services enforce it, the
pages and the API ask it what to offer. A user of None is this node's
operator at the shell.

- ASK: RUN_MATCHING, and the user may open the case (cases' need-to-know).
- APPROVE (and decline) an incoming query, SET_POLICY for a peer and
  READ_POLICIES (what each peer may ask): the central authority
  (MANAGE_MATCHING). Like the node's other settings (peers, users), the
  policies are read by those who set them; auditors read their changes in
  the audit log (`matching:policy:change`).
- VIEW a case's queries and hits, REQUEST_DETAILS of a hit: who may open the
  case; details also need RUN_MATCHING and the assistance workflow.
- ASK_PEER, per partner (`peer_refusal`): whether this user may ask that
  peer. Hit/no-hit is a check between parties (Prüm's first step): a peer is
  asked when it is active and belongs to the other side; an agency of this
  node's own party is never asked (its holdings are shared through national
  channels, not through a cross-border check). The user needs RUN_MATCHING.
  "Ask every partner the policy allows" asks exactly the peers for which
  this returns None (`askable`); a chosen peer it refuses refuses the ask.
- CARD: the case page's hit/no-hit card, for those who run checks
  (RUN_MATCHING) and may open the case; the roles who only read cases read a
  case's queries and hits through the API (VIEW)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accord.cases import policy as cases_policy
from accord.cases.models import Case
from accord.core.policy import CONFLICT, Refusal, Refused
from accord.core.roles import Permission
from accord.federation import parties
from accord.federation.models import Peer
from accord.matching.models import Direction, Hit, Query, QueryStatus

ASK = "ask"
APPROVE = "approve"
SET_POLICY = "set_policy"
VIEW = "view"
REQUEST_DETAILS = "request_details"
READ_POLICIES = "read_policies"
CARD = "card"

ACTIONS = (ASK, APPROVE, SET_POLICY, READ_POLICIES, VIEW, REQUEST_DETAILS, CARD)


class MatchingRefused(Refused):
    """A hit/no-hit action refused for who asks (403), the query's state (409)
    or what it carries (422). Nothing changed; the refusal is audited."""


def _lacks(user: Any, permission: Permission) -> bool:
    return user is not None and not user.has_permission(permission)


def allowed(user: Any, action: str, obj: Any = None) -> Refusal | None:
    """None if `user` may take `action` on `obj` (a case, a query, a hit, a peer) now."""
    if action not in ACTIONS:
        return Refusal(_("There is no such step: %(a)s.") % {"a": action}, CONFLICT)
    if action in (APPROVE, SET_POLICY, READ_POLICIES):
        return _manage(user, action, obj)
    if action in (ASK, CARD) and _lacks(user, Permission.RUN_MATCHING):
        return Refusal(_("You may not run hit/no-hit checks."))
    if action == REQUEST_DETAILS and (
        _lacks(user, Permission.RUN_MATCHING) or _lacks(user, Permission.VIEW_REQUESTS)
    ):
        return Refusal(_("You may not ask a partner for the details of a hit."))
    case = _case_of(obj)
    if case is None:
        return Refusal(_("This hit/no-hit check belongs to no case here."), CONFLICT)
    refusal = cases_policy.allowed(user, cases_policy.VIEW, case)
    if refusal is not None:
        return refusal
    return None


def peer_refusal(user: Any, peer: Peer) -> Refusal | None:
    """None if `user` may ask `peer` a hit/no-hit query (ASK_PEER above)."""
    if _lacks(user, Permission.RUN_MATCHING):
        return Refusal(_("You may not run hit/no-hit checks."))
    if not peer.active:
        return Refusal(
            _("%(node)s is not an active partner node.") % {"node": peer.node_id}, CONFLICT
        )
    if parties.same_party(peer):
        return Refusal(
            _(
                "%(agency)s is an agency of your own party: hit/no-hit checks are "
                "asked of the other side's agencies."
            )
            % {"agency": parties.label(peer)}
        )
    return None


def askable(user: Any) -> list[Peer]:
    """The partners this user may ask, the fan-out of "ask every partner the
    policy allows": by party, then node id."""
    peers = Peer.objects.filter(active=True).order_by("party", "node_id")
    return [peer for peer in peers if peer_refusal(user, peer) is None]


def _manage(user: Any, action: str, obj: Any) -> Refusal | None:
    if _lacks(user, Permission.MANAGE_MATCHING):
        return Refusal(_("Only the central authority decides what partners may ask."))
    if action == APPROVE and isinstance(obj, Query):
        if obj.direction != Direction.IN or obj.status != QueryStatus.AWAITING_APPROVAL:
            return Refusal(_("This query is not waiting for a decision."), CONFLICT)
    return None


def _case_of(obj: Any) -> Case | None:
    if isinstance(obj, Case):
        return obj
    if isinstance(obj, Hit):
        return obj.query.case
    if isinstance(obj, Query):
        return obj.case
    return None


__all__ = ["ACTIONS", "MatchingRefused", "allowed", "askable", "peer_refusal"]
