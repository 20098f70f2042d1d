"""The dialogue record's parts as replicated items (issue 11, "Replicas that
never split"): each part is an item owned by the one node that writes it; the
owner's snapshot repairs a copy broken behind the application's back; and a
snapshot that is malformed, names what this node does not share with the
sender, would change a part this node writes, or carries a signature that does
not verify, is refused and changes nothing.

In process: the partner is played by the test (tests/dialogue/conftest.py);
its snapshots arrive through the federation.replica.snapshot handler as the
inbox would hand them over."""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone
from nacl.signing import SigningKey

from accord.core.audit import AuditAction
from accord.dialogue import services, signing, wire
from accord.dialogue.fields import now_iso
from accord.dialogue.models import (
    Commitment,
    DelegateEntry,
    Dialogue,
    Disagreement,
    DisagreementEvent,
    Outcome,
    OutcomeSignature,
    OutcomeVersion,
    Position,
    Round,
)
from accord.federation import kinds, replicas
from accord.federation.models import Peer
from accord.federation.wire import SNAPSHOT_KIND, SnapshotBody
from tests.dialogue.conftest import Partner, Record, audit_count, b64

pytestmark = pytest.mark.django_db

REPAIRED = AuditAction.REPLICA_REPAIRED.value


@dataclass
class Theirs:
    """What the partner authored, beyond the shared record: a dialogue of its
    own, a disagreement and a commitment in the shared one."""

    dialogue: Dialogue
    disagreement: Disagreement
    commitment: Commitment


@pytest.fixture
def theirs(record: Record, partner: Partner) -> Theirs:
    dialogue_id, disagreement_id, commitment_id = (str(uuid.uuid4()) for _ in range(3))
    created, at = timezone.now().isoformat(), now_iso()
    partner.send(
        wire.DIALOGUE_KIND,
        {
            "id": dialogue_id,
            "track": "economic",
            "title_en": "Comprehensive Economic Dialogue",
            "title_zh": "全面经济对话",
            "author_node": partner.node,
            "created_at": created,
        },
    )
    partner.send(
        wire.DISAGREEMENT_KIND,
        {
            "id": disagreement_id,
            "dialogue_id": str(record.dialogue.pk),
            "round_id": str(record.round2.pk),
            "topic": "fugitives",
            "issue_en": "Whether a red notice suffices",
            "issue_zh": "红色通缉令是否足够",
            "author_node": partner.node,
            "created_at": created,
            "opened_at": at,
            "actor_name": "Partner official",
        },
    )
    history = [{"at": at, "node": partner.node, "status": "open", "by": "Partner official"}]
    partner.send(
        wire.COMMITMENT_KIND,
        {
            "id": commitment_id,
            "outcome_id": str(record.agreed.pk),
            "title_en": "Share seizure statistics",
            "title_zh": "共享缉获统计",
            "owner_node": record.here,
            "due_date": "2030-12-31",
            "status": "open",
            "indicators": [{"code": "assistance.answered", "topic": "", "target": 3}],
            "author_node": partner.node,
            "updated_at": at,
            "history": history,
        },
    )
    return Theirs(
        Dialogue.objects.get(pk=dialogue_id),
        Disagreement.objects.get(pk=disagreement_id),
        Commitment.objects.get(pk=commitment_id),
    )


def held(peer: Peer, key: str) -> replicas.Item | None:
    family, item_id = replicas.split_key(key)
    return family.item(peer, item_id)


def snapshot_from(partner: Partner, key: str, view: dict[str, Any] | None) -> None:
    partner.send(SNAPSHOT_KIND, SnapshotBody(key=key, view=view))


def refused(partner: Partner, key: str, view: dict[str, Any]) -> str:
    """The reason a snapshot from the partner is refused; nothing it names changed."""
    before = held(partner.peer, key)
    with pytest.raises(kinds.Refusal) as caught:
        snapshot_from(partner, key, view)
    assert held(partner.peer, key) == before
    return caught.value.reason


# ---------------------------------------------------------------- items and owners


def test_each_part_is_an_item_owned_by_the_node_that_writes_it(record, partner, theirs):
    here, there = record.here, partner.node
    items = {k: i.owner for k, i in replicas.shared_items(partner.peer).items()}
    sides = {here: here, there: there}
    expected = {
        f"dialogue.dialogue:{record.dialogue.pk}": here,
        f"dialogue.dialogue:{theirs.dialogue.pk}": there,
        f"dialogue.round:{record.round1.pk}": here,
        f"dialogue.round:{record.round2.pk}": there,
        **{
            f"dialogue.delegation:{r.pk}/{n}": n
            for r in (record.round1, record.round2)
            for n in sides
        },
        **{f"dialogue.outcome:{o.pk}": o.author_node for o in Outcome.objects.all()},
        **{f"dialogue.signatures:{o.pk}/{n}": n for o in Outcome.objects.all() for n in sides},
        f"dialogue.disagreement:{record.disagreement.pk}": here,
        f"dialogue.disagreement:{theirs.disagreement.pk}": there,
        **{
            f"dialogue.position:{d.pk}/{n}": n
            for d in (record.disagreement, theirs.disagreement)
            for n in sides
        },
        f"dialogue.disagreement-status:{record.disagreement.pk}": "",
        f"dialogue.disagreement-status:{theirs.disagreement.pk}": "",
        f"dialogue.commitment:{record.we_owe.pk}": here,
        f"dialogue.commitment:{record.they_owe.pk}": here,
        f"dialogue.commitment:{theirs.commitment.pk}": there,
        f"dialogue.commitment-report:{record.we_owe.pk}": here,
        f"dialogue.commitment-report:{record.they_owe.pk}": there,
        f"dialogue.commitment-report:{theirs.commitment.pk}": here,
    }
    assert {k: o for k, o in items.items() if k.startswith("dialogue.")} == expected
    # One item looked up by its key is the same item.
    for key in expected:
        assert held(partner.peer, key) == replicas.shared_items(partner.peer)[key]


def test_only_what_is_shared_with_a_peer_is_an_item_with_it(record, partner, ca):
    other = other_peer("other.test")
    elsewhere = services.create_dialogue(ca, other, "economic", "Another dialogue", "另一个对话")
    with_other = {k for k in replicas.shared_items(other) if k.startswith("dialogue.")}
    assert with_other == {f"dialogue.dialogue:{elsewhere.pk}"}
    assert f"dialogue.dialogue:{elsewhere.pk}" not in replicas.shared_items(partner.peer)
    assert held(other, f"dialogue.round:{record.round1.pk}") is None
    assert held(other, f"dialogue.position:{record.disagreement.pk}/other.test") is None


def other_peer(node_id: str) -> Peer:
    return Peer.objects.create(
        node_id=node_id,
        url="http://127.0.0.1:9/",
        party="Elsewhere",
        agency="Other Agency",
        signing_key=b64(bytes(SigningKey.generate().verify_key)),
        encryption_key=b64(bytes(SigningKey.generate().verify_key)),
        fingerprint="1" * 64,
    )


# ---------------------------------------------------------------- repairs


@dataclass(frozen=True)
class Break:
    """A part the partner owns, and how a test breaks this node's copy of it."""

    key: Callable[[Record, Partner, Theirs], str]
    tamper: Callable[[Record, Partner, Theirs], object]


def _report(record: Record, partner: Partner, theirs: Theirs) -> None:
    first = Commitment.objects.get(pk=record.they_owe.pk).history[:1]
    Commitment.objects.filter(pk=record.they_owe.pk).update(status="open", history=first)


def _status(record: Record, partner: Partner, theirs: Theirs) -> None:
    Disagreement.objects.filter(pk=record.disagreement.pk).update(
        status="open", status_at="2000-01-01T00:00:00.000000+00:00", status_node=record.here
    )


BREAKS = {
    "dialogue edited": Break(
        lambda r, p, t: f"dialogue.dialogue:{t.dialogue.pk}",
        lambda r, p, t: Dialogue.objects.filter(pk=t.dialogue.pk).update(title_en="Tampered"),
    ),
    "dialogue deleted": Break(
        lambda r, p, t: f"dialogue.dialogue:{t.dialogue.pk}",
        lambda r, p, t: Dialogue.objects.filter(pk=t.dialogue.pk).delete(),
    ),
    "round edited": Break(
        lambda r, p, t: f"dialogue.round:{r.round2.pk}",
        lambda r, p, t: Round.objects.filter(pk=r.round2.pk).update(venue_en="Nowhere", topics=[]),
    ),
    "delegation deleted": Break(
        lambda r, p, t: f"dialogue.delegation:{r.round1.pk}/{p.node}",
        lambda r, p, t: DelegateEntry.objects.filter(round=r.round1, node=p.node).delete(),
    ),
    "outcome text edited": Break(
        lambda r, p, t: f"dialogue.outcome:{r.theirs.pk}",
        lambda r, p, t: OutcomeVersion.objects.filter(outcome=r.theirs).update(text_en="Tampered"),
    ),
    "outcome version deleted": Break(
        lambda r, p, t: f"dialogue.outcome:{r.theirs.pk}",
        lambda r, p, t: OutcomeVersion.objects.filter(outcome=r.theirs).delete(),
    ),
    "signature deleted": Break(
        lambda r, p, t: f"dialogue.signatures:{r.agreed.pk}/{p.node}",
        lambda r, p, t: OutcomeSignature.objects.filter(
            version__outcome=r.agreed, node=p.node
        ).delete(),
    ),
    "disagreement edited": Break(
        lambda r, p, t: f"dialogue.disagreement:{t.disagreement.pk}",
        lambda r, p, t: Disagreement.objects.filter(pk=t.disagreement.pk).update(
            issue_en="Tampered", round=None
        ),
    ),
    "position and its history deleted": Break(
        lambda r, p, t: f"dialogue.position:{r.disagreement.pk}/{p.node}",
        lambda r, p, t: (
            Position.objects.filter(disagreement=r.disagreement, node=p.node).delete(),
            DisagreementEvent.objects.filter(disagreement=r.disagreement, node=p.node).delete(),
        ),
    ),
    "status put back": Break(
        lambda r, p, t: f"dialogue.disagreement-status:{r.disagreement.pk}", _status
    ),
    "commitment edited": Break(
        lambda r, p, t: f"dialogue.commitment:{t.commitment.pk}",
        lambda r, p, t: Commitment.objects.filter(pk=t.commitment.pk).update(
            title_en="Tampered", indicators=[]
        ),
    ),
    "report dropped": Break(lambda r, p, t: f"dialogue.commitment-report:{r.they_owe.pk}", _report),
}


@pytest.mark.parametrize("case", BREAKS.values(), ids=BREAKS.keys())
def test_the_owners_snapshot_repairs_a_copy_broken_behind_the_back(
    record, partner, theirs, ca, case
):
    # Later changes by the partner, so its status and report are its own.
    partner.report(record.they_owe, "in_progress")
    status = wire.StatusBody(
        disagreement_id=str(record.disagreement.pk),
        status="managed",
        at=now_iso(),
        node=partner.node,
        actor_name="Partner official",
        note="",
    )
    partner.send(wire.STATUS_KIND, status)
    key = case.key(record, partner, theirs)
    owners = held(partner.peer, key)
    assert owners is not None and owners.owner in (partner.node, "")
    repaired = audit_count(REPAIRED)

    case.tamper(record, partner, theirs)
    broken = held(partner.peer, key)
    assert broken is None or replicas.digest(broken.view) != replicas.digest(owners.view)

    snapshot_from(partner, key, owners.view)

    after = held(partner.peer, key)
    assert after is not None
    assert replicas.digest(after.view) == replicas.digest(owners.view)
    assert audit_count(REPAIRED) == repaired + 1
    # Applied again, the same snapshot changes nothing and is not audited again.
    snapshot_from(partner, key, owners.view)
    assert audit_count(REPAIRED) == repaired + 1


def test_a_repaired_outcome_still_verifies_and_shows_agreed(record, partner, ca):
    services.sign_outcome(ca, record.theirs, 1)
    key = f"dialogue.outcome:{record.theirs.pk}"
    owners = held(partner.peer, key)
    assert owners is not None
    OutcomeVersion.objects.filter(outcome=record.theirs).update(text_zh="篡改")

    snapshot_from(partner, key, owners.view)

    version = Outcome.objects.get(pk=record.theirs.pk).latest()
    assert version is not None and version.text_zh == owners.view["versions"][0]["text_zh"]
    sides = signing.parties(record.dialogue)
    assert signing.status_of(version, sides) == "agreed"


def test_a_lost_disagreement_is_restored_with_its_status_and_history(record, partner, theirs):
    item_id = theirs.disagreement.pk
    keys = [
        f"dialogue.disagreement:{item_id}",
        f"dialogue.disagreement-status:{item_id}",
        f"dialogue.position:{item_id}/{partner.node}",
    ]
    owners = [view_of(partner, key) for key in keys]
    Disagreement.objects.filter(pk=item_id).delete()

    # In the order the digest exchange asks for them: by key.
    for key, view in sorted(zip(keys, owners, strict=True)):
        if key.startswith("dialogue.disagreement-status:"):
            with pytest.raises(kinds.Refusal, match=r"^invalid_snapshot: no such disagreement"):
                snapshot_from(partner, key, view)
        else:
            snapshot_from(partner, key, view)
    # Restored, it holds no status change yet; the next exchange merges the partner's.
    restored = view_of(partner, keys[1])
    assert (restored["status_at"], restored["status_node"]) == ("", "")
    snapshot_from(partner, keys[1], owners[1])

    assert [view_of(partner, key) for key in keys] == owners


def test_the_older_status_in_a_snapshot_is_not_taken(record, partner, ca):
    services.set_disagreement_status(ca, record.disagreement, "resolved")
    key = f"dialogue.disagreement-status:{record.disagreement.pk}"
    ours = held(partner.peer, key)
    assert ours is not None
    older = {**ours.view, "status": "managed", "status_at": "2001-01-01T00:00:00.000000+00:00"}
    older["status_node"] = partner.node

    snapshot_from(partner, key, older)

    assert held(partner.peer, key) == ours


# ---------------------------------------------------------------- refusals


def view_of(partner: Partner, key: str) -> dict[str, Any]:
    item = held(partner.peer, key)
    assert item is not None
    return copy.deepcopy(item.view)


MALFORMED = {
    "an unknown field": ("dialogue.round:{round2}", lambda v: {**v, "extra": 1}),
    "a missing field": ("dialogue.round:{round2}", lambda v: {k: v[k] for k in v if k != "date"}),
    "a number as text": ("dialogue.round:{round2}", lambda v: {**v, "number": "2"}),
    "an unknown topic": ("dialogue.outcome:{theirs}", lambda v: {**v, "topic": "weather"}),
    "an unknown role": (
        "dialogue.delegation:{round1}/{partner}",
        lambda v: {**v, "people": [{**v["people"][0], "role": "king"}]},
    ),
    "a time without its offset": (
        "dialogue.outcome:{theirs}",
        lambda v: {**v, "created_at": "2018-06-14T10:00:00"},
    ),
    "another item's id": (
        "dialogue.round:{round2}",
        lambda v: {**v, "id": str(uuid.uuid4())},
    ),
    "text that does not match its SHA-256": (
        "dialogue.outcome:{theirs}",
        lambda v: {**v, "versions": [{**v["versions"][0], "text_en": "Rewritten"}]},
    ),
}


def keyed(template: str, record: Record, partner: Partner) -> str:
    return template.format(
        round1=record.round1.pk,
        round2=record.round2.pk,
        theirs=record.theirs.pk,
        partner=partner.node,
    )


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_view_is_refused(record, partner, case):
    template, spoil = case
    key = keyed(template, record, partner)
    assert refused(partner, key, spoil(view_of(partner, key))).startswith("invalid_snapshot:")


def test_a_nul_character_is_refused_by_the_part_itself(record, partner):
    # The channel's SnapshotBody refuses it first; the part's schema does too.
    family, item_id = replicas.split_key(f"dialogue.round:{record.round2.pk}")
    view = {**view_of(partner, f"dialogue.round:{record.round2.pk}"), "venue_en": "Bei\x00jing"}
    with pytest.raises(kinds.Refusal, match=r"^invalid_snapshot:"):
        family.apply(partner.peer, item_id, view)


OURS = [
    "dialogue.dialogue:{dialogue}",
    "dialogue.round:{round1}",
    "dialogue.delegation:{round1}/{here}",
    "dialogue.outcome:{agreed}",
    "dialogue.signatures:{agreed}/{here}",
    "dialogue.position:{disagreement}/{here}",
    "dialogue.commitment:{we_owe}",
    "dialogue.commitment-report:{we_owe}",
]


@pytest.mark.parametrize("template", OURS)
def test_a_snapshot_of_a_part_this_node_writes_is_refused(record, partner, template):
    key = template.format(
        dialogue=record.dialogue.pk,
        round1=record.round1.pk,
        here=record.here,
        agreed=record.agreed.pk,
        disagreement=record.disagreement.pk,
        we_owe=record.we_owe.pk,
    )
    view = view_of(partner, key)
    # Claimed for the sender, where the view names an author or a side.
    for field in ("author_node", "node"):
        if field in view:
            view[field] = partner.node
    reason = refused(
        partner, key, {**view, "title_en": "Rewritten"} if "title_en" in view else view
    )
    assert reason.startswith("not_owner:")


def test_a_status_change_this_node_never_made_is_refused(record, partner):
    key = f"dialogue.disagreement-status:{record.disagreement.pk}"
    forged = {**view_of(partner, key), "status": "resolved", "status_at": now_iso()}
    forged["status_node"] = record.here
    assert refused(partner, key, forged).startswith("not_owner:")


def test_a_new_text_for_a_version_this_node_signed_is_refused(record, partner, ca):
    services.sign_outcome(ca, record.theirs, 1)
    key = f"dialogue.outcome:{record.theirs.pk}"
    view = view_of(partner, key)
    version = view["versions"][0]
    version["text_en"] = "Both sides will do rather less."
    content = signing.outcome_content(record.theirs, 1, version["text_en"], version["text_zh"])
    version["content_sha256"] = signing.content_hash(content)
    assert refused(partner, key, view).startswith("not_owner:")


def test_a_part_of_a_dialogue_kept_with_another_peer_is_refused(record, partner, ca):
    other = other_peer("other.test")
    elsewhere = services.create_dialogue(ca, other, "economic", "Another dialogue", "另一个对话")
    round_ = services.save_round(
        ca, elsewhere, {"number": 1, "date": "2019-01-01", "venue_en": "X"}
    )
    # The partner claims the other dialogue as its own, and adds a round to it.
    claim = {
        **view_of(partner, f"dialogue.dialogue:{record.dialogue.pk}"),
        "id": str(elsewhere.pk),
        "author_node": partner.node,
    }
    assert refused(partner, f"dialogue.dialogue:{elsewhere.pk}", claim).startswith(
        "invalid_snapshot:"
    )
    theirs_round = view_of(partner, f"dialogue.round:{record.round2.pk}")
    new_id = str(uuid.uuid4())
    extra = {**theirs_round, "id": new_id, "dialogue_id": str(elsewhere.pk), "number": 5}
    assert refused(partner, f"dialogue.round:{new_id}", extra).startswith("invalid_snapshot:")
    delegation = {"round_id": str(round_.pk), "node": partner.node, "people": []}
    key = f"dialogue.delegation:{round_.pk}/{partner.node}"
    assert refused(partner, key, delegation).startswith("invalid_snapshot:")
    assert not Round.objects.filter(pk=new_id).exists()


def spoiled(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_a_signature_that_does_not_verify_is_refused(record, partner):
    key = f"dialogue.signatures:{record.agreed.pk}/{partner.node}"
    view = view_of(partner, key)
    OutcomeSignature.objects.filter(version__outcome=record.agreed, node=partner.node).delete()
    bad = copy.deepcopy(view)
    bad["signatures"][0]["signature"] = spoiled(bad["signatures"][0]["signature"])
    assert refused(partner, key, bad).startswith("bad_signature:")
    # Signed with a key that is not the one pinned for the partner.
    stranger = SigningKey.generate()
    sha = view["signatures"][0]["content_sha256"]
    block = partner.block(sha, key=stranger).model_dump()
    forged = {**view, "signatures": [{**view["signatures"][0], **block}]}
    assert refused(partner, key, forged).startswith("bad_signature:")
    # Over other content than the version this node holds.
    other = {**view, "signatures": [{**view["signatures"][0], "content_sha256": "0" * 64}]}
    assert refused(partner, key, other).startswith("invalid_snapshot:")
    assert not OutcomeSignature.objects.filter(version__outcome=record.agreed, node=partner.node)
