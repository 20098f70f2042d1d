"""A dialogue of several agencies on one node (issue 16), through the services
and the inbound handlers: this node (China) keeps it with two agencies of the
United States, partner.test (the Department of Justice) and second.test (the
Department of Homeland Security). Every change fans out to both; an outcome
of a round the three co-chair is agreed only once all three signed its very
content; a commitment is owned by any participating agency; a pair of nodes
compares only the parts one of the two owns. The same over real HTTP:
test_three_agencies_live.py."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from nacl.signing import SigningKey

from accord.core.identity import this_node
from accord.dialogue import services, signing, wire
from accord.dialogue.models import Commitment, Round
from accord.dialogue.participants import co_chairs, labels
from accord.federation import kinds, replicas
from accord.federation.models import OutboxMessage, Peer
from tests.dialogue.conftest import DIALOGUE_EN, DIALOGUE_ZH, Partner, b64

SECOND = "second.test"


@pytest.fixture
def second(db) -> Partner:
    key = SigningKey.generate()
    peer = Peer.objects.create(
        node_id=SECOND,
        url="http://127.0.0.1:9/",
        party="United States",
        agency="Department of Homeland Security",
        central_authority=False,
        signing_key=b64(bytes(key.verify_key)),
        encryption_key=b64(bytes(SigningKey.generate().verify_key)),
        fingerprint="2" * 64,
    )
    return Partner(peer, key)


@pytest.fixture
def round1(ca, partner, second) -> Round:
    """The dialogue of the three, and a round each of them co-chairs."""
    dialogue = services.create_dialogue(
        ca, [partner.peer, second.peer], "law_enforcement_cyber", DIALOGUE_EN, DIALOGUE_ZH
    )
    round_ = services.save_round(
        ca, dialogue, {"number": 1, "date": "2017-10-04", "venue_en": "Washington"}
    )
    services.set_delegation(ca, round_, [{"role": "co_chair", "name": "Guo Shengkun"}])
    partner.delegation(round_, [{"role": "co_chair", "name": "Jeff Sessions"}])
    second.delegation(round_, [{"role": "co_chair", "name": "Elaine Duke"}])
    return round_


def sent_to(node: str, kind: str) -> int:
    return OutboxMessage.objects.filter(peer__node_id=node, kind=kind).count()


def test_every_change_fans_out_to_every_participating_agency(round1, partner, second):
    here = this_node().node_id
    dialogue = round1.dialogue
    assert signing.parties(dialogue) == tuple(sorted([here, partner.node, SECOND]))
    for node in (partner.node, SECOND):
        assert sent_to(node, wire.DIALOGUE_KIND) == 1
        assert sent_to(node, wire.ROUND_KIND) == 1
        assert sent_to(node, wire.DELEGATION_KIND) == 1
    assert wire.dialogue_body(dialogue).nodes == sorted([here, partner.node, SECOND])


def test_the_round_has_co_chairs_from_three_agencies(round1, partner):
    chairs = {(c["node"], c["name"]) for c in co_chairs(round1)}
    assert chairs == {
        (this_node().node_id, "Guo Shengkun"),
        (partner.node, "Jeff Sessions"),
        (SECOND, "Elaine Duke"),
    }
    assert labels(round1.dialogue)[SECOND] == "Department of Homeland Security (United States)"


def test_an_outcome_is_agreed_only_once_every_co_chairing_node_signed_it(
    ca, round1, partner, second
):
    outcome = services.propose_outcome(ca, round1, "immigration", "Returns.", "遣返。")
    required = signing.required_signers(round1)
    assert set(required) == {this_node().node_id, partner.node, SECOND}
    partner.cosign(outcome)
    version = outcome.latest()
    assert signing.status_of(version, required) == "proposed"
    assert signing.missing(version, required) == [SECOND]

    # A signature over other content is refused, and changes nothing.
    other = "0" * 64
    with pytest.raises(kinds.Refusal, match="content_mismatch"):
        second.send(
            wire.SIGNATURE_KIND,
            wire.SignatureBody(
                outcome_id=str(outcome.pk),
                version=1,
                content_sha256=other,
                signature=second.block(other),
            ),
        )
    assert signing.missing(version, required) == [SECOND]

    second.cosign(outcome)
    assert signing.status_of(version, required) == "agreed"


def test_co_chairs_of_one_party_alone_need_every_participant(ca, partner, second):
    dialogue = services.create_dialogue(
        ca, [partner.peer, second.peer], "economic", "Economic", "经济"
    )
    round_ = services.save_round(
        ca, dialogue, {"number": 1, "date": "2018-01-01", "venue_en": "Beijing"}
    )
    partner.delegation(round_, [{"role": "co_chair", "name": "Jeff Sessions"}])
    second.delegation(round_, [{"role": "co_chair", "name": "Elaine Duke"}])
    assert signing.required_signers(round_) == signing.parties(dialogue)


def test_a_dialogue_naming_a_node_this_node_does_not_peer_with_is_refused(partner):
    body = {
        "id": str(uuid.uuid4()),
        "track": "economic",
        "title_en": "E",
        "title_zh": "经",
        "author_node": partner.node,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    here = this_node().node_id
    with pytest.raises(kinds.Refusal, match="unknown_participant"):
        partner.send(wire.DIALOGUE_KIND, {**body, "nodes": [here, partner.node, "zz.test"]})
    with pytest.raises(kinds.Refusal, match="not_participant"):
        partner.send(wire.DIALOGUE_KIND, {**body, "nodes": [partner.node, SECOND]})


def test_a_dialogue_needs_an_agency_of_the_other_party(ca, partner):
    own = Peer.objects.create(
        node_id="cn.other.test",
        url="http://127.0.0.1:9/",
        party=this_node().party,
        agency="Another ministry",
        signing_key="k",
        encryption_key="k",
        fingerprint="3" * 64,
    )
    with pytest.raises(ValidationError):
        services.create_dialogue(ca, [own], "economic", "E", "经")


def test_a_commitment_is_owned_by_an_agency_and_reported_by_it_alone(ca, round1, partner, second):
    outcome = services.propose_outcome(ca, round1, "immigration", "Returns.", "遣返。")
    terms = {"title_en": "Verify nationality", "due_date": date(2030, 6, 30)}
    with pytest.raises(ValidationError):
        services.create_commitment(ca, outcome, {**terms, "owner_node": "zz.test"})
    item = services.create_commitment(ca, outcome, {**terms, "owner_node": SECOND})
    assert sent_to(partner.node, wire.COMMITMENT_KIND) == sent_to(SECOND, wire.COMMITMENT_KIND) == 1
    with pytest.raises(kinds.Refusal, match="not_owner"):
        partner.report(item, "done")
    second.report(item, "in_progress")
    assert Commitment.objects.get(pk=item.pk).status == "in_progress"


def test_a_pair_of_nodes_compares_only_what_one_of_the_two_owns(round1, partner):
    delegation = f"dialogue.delegation:{round1.pk}/{SECOND}"
    assert delegation not in replicas.shared_items(partner.peer)
    second_peer = Peer.objects.get(node_id=SECOND)
    assert replicas.shared_items(second_peer)[delegation].owner == SECOND
