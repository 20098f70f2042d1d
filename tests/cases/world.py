"""People and cases for the cases tests: an author with a team mate, an
outsider who works on cases, the central authority, an auditor and an
administrator; cases opened through the services."""

from __future__ import annotations

from typing import Any

from accord.cases import services
from accord.cases.models import Case
from accord.core import services as core_services
from accord.core.audit import Actor
from accord.core.models import AuditEvent, User
from accord.core.roles import Role
from tests.live import TEST_PASSWORD

PEOPLE = {
    "author": Role.INVESTIGATOR,
    "mate": Role.ANALYST,
    "outsider": Role.INVESTIGATOR,
    "prosecutor": Role.PROSECUTOR,
    "central": Role.CENTRAL_AUTHORITY,
    "auditor": Role.AUDITOR,
    "admin": Role.NODE_ADMIN,
}


def make_people() -> dict[str, User]:
    system = Actor.system("test")
    return {
        key: core_services.create_user(system, f"case-{key}", role, TEST_PASSWORD)
        for key, role in PEOPLE.items()
    }


def open_case(author: User, title: str = "Ransomware against hospitals", **extra: Any) -> Case:
    data = {"title": title, "title_language": "en", "categories": ["interference"], **extra}
    return services.create_case(Actor.of(author), data)


def events(action: Any, **filters: Any) -> int:
    return AuditEvent.objects.filter(action=str(action), **filters).count()
