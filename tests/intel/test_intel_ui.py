"""The intel pages an analyst and an operator work from: an import lists each
refused object with its reason (page and JSON), a relationship reads in its
real direction with both ends named, and collections are shared, unshared,
subscribed and unsubscribed from the web, each change audited and each
refusal too."""

from __future__ import annotations

import json
import uuid

import pytest
import stix2
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from accord.core.models import AuditEvent
from accord.core.roles import Role
from accord.federation.models import Peer
from accord.intel.models import Collection, Share, Status, StixObject, Subscription
from accord.intel.store import mirror_for
from tests.assistance.arrivals import pinned_peer

pytestmark = pytest.mark.django_db


def upload(objects: list[dict]) -> SimpleUploadedFile:
    data = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    return SimpleUploadedFile("bundle.json", json.dumps(data).encode(), "application/json")


def as_dict(made) -> dict:
    return json.loads(made.serialize())


def peer() -> Peer:
    return pinned_peer("us.doj")


def test_an_import_lists_each_refused_object_with_its_reason(client_for):
    shared = Collection.objects.get(alias="shared")
    good = as_dict(stix2.Malware(name="Emotet", is_family=True))
    bad = {"type": "indicator", "spec_version": "2.1", "id": "indicator--not-a-uuid"}
    client = client_for(Role.ANALYST)
    # The form posted without script lands on the import's own page.
    answer = client.post(
        reverse("intel:import"), {"collection": str(shared.pk), "bundle": upload([good, bad])}
    )
    status = Status.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("intel:status", args=[status.pk])
    page = client.get(answer["Location"]).content.decode()
    table = page.split('data-testid="import-refusals"', 1)[1]
    assert "indicator--not-a-uuid" in table
    assert escape(status.failures[0]["message"]) in table
    assert "Emotet" not in table
    # The same, as JSON: on the page's address, and in the upload script's answer.
    document = client.get(answer["Location"], HTTP_ACCEPT="application/json").json()
    assert (document["stored"], document["refused"]) == (1, 1)
    assert document["failures"] == [
        {"id": "indicator--not-a-uuid", "reason": status.failures[0]["message"]}
    ]
    scripted = client.post(
        reverse("intel:import"),
        {"collection": str(shared.pk), "bundle": upload([bad])},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    ).json()
    assert scripted["refused"] == 1 and scripted["failures"][0]["id"] == "indicator--not-a-uuid"
    assert client.get(scripted["url"], {"format": "json"}).json()["refused"] == 1


def test_an_import_status_is_not_for_those_without_intel(client_for):
    shared = Collection.objects.get(alias="shared")
    client_for(Role.ANALYST).post(
        reverse("intel:import"), {"collection": str(shared.pk), "bundle": upload([{}])}
    )
    url = reverse("intel:status", args=[Status.objects.get().pk])
    assert client_for(Role.PROSECUTOR).get(url).status_code == 403


def test_a_relationship_reads_in_its_direction_with_names(client_for):
    shared = Collection.objects.get(alias="shared")
    seen = stix2.Indicator(
        name="Botnet controller 203.0.113.9",
        pattern="[ipv4-addr:value = '203.0.113.9']",
        pattern_type="stix",
        valid_from="2026-01-01T00:00:00Z",
    )
    family = stix2.Malware(name="Emotet", is_family=True)
    link = stix2.Relationship(seen, "indicates", family)
    missing = stix2.Relationship(
        family, "uses", "attack-pattern--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"
    )
    client = client_for(Role.ANALYST)
    client.post(
        reverse("intel:import"),
        {
            "collection": str(shared.pk),
            "bundle": upload([as_dict(o) for o in (seen, family, link, missing)]),
        },
    )
    rows = {o.stix_type: o for o in StixObject.objects.all()}
    malware_page = client.get(reverse("intel:object", args=[rows["malware"].pk])).content.decode()
    items = [i.split("</li>", 1)[0] for i in malware_page.split('data-testid="relationship"')[1:]]
    text = {" ".join(_plain(i).split()) for i in items}
    assert "indicator Botnet controller 203.0.113.9 indicates malware Emotet" in text
    # An end this node does not hold is named by its id, and says so.
    assert any(
        t.startswith("malware Emotet uses attack-pattern attack-pattern--0c7b5b88") for t in text
    )
    assert "not held on this node" in malware_page
    # The other end links to its own page; the object shown is not a link.
    indicates = next(i for i in items if "indicates" in i)
    assert reverse("intel:object", args=[rows["indicator"].pk]) in indicates
    assert reverse("intel:object", args=[rows["malware"].pk]) not in indicates


def _plain(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", " ", html.split(">", 1)[1])


def test_an_operator_shares_unshares_subscribes_and_unsubscribes_from_the_web(client_for):
    shared = Collection.objects.get(alias="shared")
    partner = peer()
    client = client_for(Role.NODE_ADMIN)
    page = client.get(reverse("intel:sharing")).content.decode()
    assert 'data-testid="share-form-shared"' in page and "us.doj" in page
    client.post(reverse("intel:share", args=[shared.pk]), {"peer": "us.doj"})
    assert Share.objects.filter(collection=shared, peer=partner).exists()
    page = client.get(reverse("intel:sharing")).content.decode()
    assert 'data-testid="share"' in page and "Stop sharing" in page
    client.post(reverse("intel:unshare", args=[shared.pk]), {"peer": "us.doj"})
    assert not Share.objects.exists()
    url = "https://taxii.example.org/taxii2/api1/collections/abc/objects/"
    client.post(
        reverse("intel:subscribe", args=[shared.pk]),
        {"objects_url": url, "username": "accord", "secret": "s3cret-password"},
    )
    item = Subscription.objects.get()
    assert (item.objects_url, item.username) == (url, "accord")
    assert "s3cret-password" not in item.secret  # sealed, never in clear
    assert url in client.get(reverse("intel:sharing")).content.decode()
    client.post(reverse("intel:unsubscribe", args=[shared.pk]), {"subscription": item.pk})
    assert not Subscription.objects.exists()
    changes = AuditEvent.objects.filter(action="intel:collection:share").order_by("seq")
    assert [sorted(e.data) for e in changes] == [
        ["peer"],
        ["unshared"],
        ["subscribed"],
        ["unsubscribed"],
    ]


def test_the_sharing_forms_refuse_what_the_services_refuse(client_for):
    shared = Collection.objects.get(alias="shared")
    partner = peer()
    mirrored = mirror_for(partner, str(uuid.uuid4()), "Their feed")
    admin = client_for(Role.NODE_ADMIN)
    # A partner's collection is not passed on: no form, and the service refuses.
    page = admin.get(reverse("intel:sharing")).content.decode()
    assert f'data-testid="share-form-{mirrored.alias}"' not in page
    answer = admin.post(reverse("intel:share", args=[mirrored.pk]), {"peer": "us.doj"}, follow=True)
    assert "not shared onward" in answer.content.decode()
    assert not Share.objects.exists()
    assert AuditEvent.objects.filter(action="intel:action:refused").exists()
    # A bad URL, an unknown peer and a stranger's subscription number change nothing.
    for name, data in (
        ("intel:subscribe", {"objects_url": "ftp://x/"}),
        ("intel:share", {"peer": "nobody.test"}),
        ("intel:unsubscribe", {"subscription": "999"}),
        ("intel:unshare", {"peer": "us.doj"}),
    ):
        refused = AuditEvent.objects.filter(action="intel:action:refused").count()
        answer = admin.post(reverse(name, args=[shared.pk]), data, follow=True)
        assert answer.status_code == 200 and 'class="message error' in answer.content.decode()
        # Each refusal is audited with its reason, as the services audit theirs.
        events = AuditEvent.objects.filter(action="intel:action:refused").order_by("seq")
        assert events.count() == refused + 1, name
        assert events.last().data["reason"] and events.last().target_id == str(shared.pk)
    assert not Share.objects.exists() and not Subscription.objects.exists()
    # An analyst works with intelligence but does not connect partners.
    denied = AuditEvent.objects.filter(action="core:access:denied").count()
    answer = client_for(Role.ANALYST).post(
        reverse("intel:share", args=[shared.pk]), {"peer": "us.doj"}
    )
    assert answer.status_code == 403 and not Share.objects.exists()
    assert AuditEvent.objects.filter(action="core:access:denied").count() == denied + 1
    # The form needs the CSRF token.
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    from accord.core.models import User

    strict.force_login(User.objects.get(username="node_admin-user"))
    assert (
        strict.post(reverse("intel:share", args=[shared.pk]), {"peer": "us.doj"}).status_code == 403
    )
    assert not Share.objects.exists()


def test_the_sharing_page_and_an_import_page_read_in_chinese(users, client_for):
    from django.test import Client

    shared = Collection.objects.get(alias="shared")
    client_for(Role.ANALYST).post(
        reverse("intel:import"), {"collection": str(shared.pk), "bundle": upload([{}])}
    )
    for role, url, texts in (
        (Role.NODE_ADMIN, reverse("intel:sharing"), ("情报共享", "未与任何伙伴节点共享。")),
        (
            Role.ANALYST,
            reverse("intel:status", args=[Status.objects.get().pk]),
            ("被拒收的对象", "返回威胁情报"),
        ),
    ):
        user = users[role]
        user.language = "zh-hans"
        user.save()
        client = Client()
        client.force_login(user)
        html = client.get(url).content.decode()
        for text in texts:
            assert text in html, text
