"""The `accord` list commands print a header row above aligned columns, and
one line saying so when there is nothing to list (issue 15)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accord.cases import services as cases
from accord.core.audit import Actor
from accord.core.roles import Role
from accord.intel.store import create_collection
from tests.assistance.arrivals import pinned_peer, submitted

pytestmark = pytest.mark.django_db


def listed(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_every_list_command_prints_a_header_row_over_its_rows(users):
    peer = pinned_peer("us.lists")
    request = submitted(users, peer)
    case = cases.create_case(
        Actor.of(users[Role.INVESTIGATOR]), {"title": "Ring", "title_language": "en"}
    )
    create_collection(Actor.system("test"), "shared-iocs", "Shared indicators")
    expected = {
        ("requests", "list"): (["REFERENCE", "DIR", "PEER", "TYPE", "STATE"], request.reference),
        ("cases", "list"): (["REFERENCE", "STATUS", "TITLE"], case.reference),
        ("peer", "list"): (["NODE", "PARTY", "ROLE", "STATE", "ADDRESS", "WAITING"], "us.lists"),
        ("outbox", "status"): (["NODE", "WAITING", "APPLIED", "REFUSED"], "us.lists"),
        ("intel", "collections"): (["ID", "ALIAS", "OBJECTS", "TITLE"], "shared-iocs"),
    }
    for command, (header, value) in expected.items():
        lines = listed(*command)
        assert lines[0].split()[: len(header)] == header, (command, lines)
        assert any(value in line for line in lines[1:]), (command, lines)
        # Columns line up: each value starts where its header does.
        row = next(line for line in lines[1:] if value in line)
        second = lines[0].index(header[1])
        assert row[second - 2 : second] == "  " and row[second] != " ", (command, lines)


def test_an_empty_list_says_so_in_one_line(users):
    assert listed("peer", "list") == ["No peers."]
    assert listed("cases", "list") == ["No cases."]
    assert listed("dialogue", "list") == ["No dialogues."]
    assert listed("intel", "account", "list") == ["No accounts."]
