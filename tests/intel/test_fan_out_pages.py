"""Intel fan-out in one process: "Share with every partner node" makes one
share per active peer (never for a mirror); a mirror's objects name the
agency they came from on the object page and the sharing page.
(Three live nodes: test_fan_out.py.)"""

from __future__ import annotations

import json
import uuid

import stix2
from django.urls import reverse

from accord.core.audit import Actor
from accord.core.roles import Role
from accord.intel.ingest import ingest
from accord.intel.models import Collection, Share, StixObject
from accord.intel.store import mirror_for
from tests.peers import pinned_peer


def test_share_with_every_partner_and_the_source_agency_shown(client_for):
    shared = Collection.objects.get(alias="shared")
    doj = pinned_peer("us.doj")
    dhs = pinned_peer("us.dhs")
    dhs.agency = "Department of Homeland Security"
    dhs.save(update_fields=["agency"])
    admin = client_for(Role.NODE_ADMIN)
    page = admin.get(reverse("intel:sharing")).content.decode()
    assert 'data-testid="share-all-shared"' in page
    admin.post(reverse("intel:share", args=[shared.pk]), {"peer": "us.doj", "to": "all"})
    assert {s.peer for s in Share.objects.filter(collection=shared)} == {doj, dhs}

    mirrored = mirror_for(dhs, str(uuid.uuid4()), "Their feed")
    assert "Department of Homeland Security (United States)" in mirrored.description
    made = json.loads(stix2.Malware(name="Emotet", is_family=True).serialize())
    ingest(mirrored, [made], None, Actor(label="peer:us.dhs"))
    row = StixObject.objects.get(collection=mirrored)
    html = client_for(Role.ANALYST).get(reverse("intel:object", args=[row.pk])).content.decode()
    assert "Shared by Department of Homeland Security (United States), node us.dhs" in html
    page = admin.get(reverse("intel:sharing")).content.decode()
    assert "Department of Homeland Security (United States)" in page
    # A mirror is shared with nobody, even "with every partner".
    admin.post(reverse("intel:share", args=[mirrored.pk]), {"to": "all"})
    assert not Share.objects.filter(collection=mirrored).exists()
