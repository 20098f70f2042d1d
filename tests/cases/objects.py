"""Real cases for the object-level authorisation matrix of cases, built in
process through `accord.cases.services` as a node would hold them.

The people are tests/objects.py's (named for requests) and one more analyst
who is on no team. On cases they stand as follows:

- `author` (investigator) opened every case below but `other`;
- `analyst` was added to the team of each of the author's cases;
- `validator` (prosecutor) was added to some of them (`Shape.prosecutor`);
- `outsider-investigator` opened `other` alone and is on no other team;
- `outsider-prosecutor` and `outsider-analyst` are on no team;
- `central`, `auditor` and `admin` are on no team (none may join one).

Each case holds its own domain and IPv4 address and one person subject (who
adds a `person` observable). Some also hold SHARED (among them
confidential cases and another author's case) or QUIET (held only by the
author's cases: the prosecutor on the team of the non-confidential ones,
not of the confidential one, sees that one not at all, not even as the
anonymous note). Nothing here decides what may be done to a case: the test
derives that from docs/cases.md."""

from __future__ import annotations

from dataclasses import dataclass

from accord.cases import services
from accord.cases.models import Case, CaseStatus
from accord.core import services as core_services
from accord.core.audit import Actor
from accord.core.models import User
from accord.core.roles import Role
from tests.live import TEST_PASSWORD
from tests.objects import PEOPLE as REQUEST_PEOPLE
from tests.objects import Person, make_people

SHARED = "shared.example"
QUIET = "quiet.example"
OUTSIDER_ANALYST = Person("outsider-analyst", Role.ANALYST)
PEOPLE = (*REQUEST_PEOPLE, OUTSIDER_ANALYST)
PERSON = {person.key: person for person in PEOPLE}


@dataclass(frozen=True)
class Shape:
    """One case: its status, confidentiality and who besides its author and
    (for the author's cases) the analyst is on its team."""

    key: str
    status: str = CaseStatus.OPEN
    confidential: bool = False
    author: str = "author"
    prosecutor: bool = False  # the prosecutor `validator` is on its team
    shared: tuple[str, ...] = ()  # the correlating values it holds

    @property
    def team(self) -> frozenset[str]:
        members = {self.author}
        if self.author == "author":
            members.add("analyst")
        if self.prosecutor:
            members.add("validator")
        return frozenset(members)

    def domain(self) -> str:
        return f"{self.key}.example"


SHAPES = (
    Shape("open", prosecutor=True, shared=(SHARED, QUIET)),
    Shape("open-confidential", confidential=True, shared=(SHARED, QUIET)),
    Shape("suspended", CaseStatus.SUSPENDED),
    Shape(
        "suspended-confidential",
        CaseStatus.SUSPENDED,
        confidential=True,
        prosecutor=True,
        shared=(SHARED,),
    ),
    Shape("closed", CaseStatus.CLOSED, prosecutor=True, shared=(SHARED, QUIET)),
    Shape("closed-confidential", CaseStatus.CLOSED, True),
    # Another author's case sharing SHARED with the confidential cases above.
    Shape("other", author="outsider-investigator", shared=(SHARED,)),
)
SHAPE = {shape.key: shape for shape in SHAPES}


def make_case_people() -> dict[str, User]:
    people = make_people()
    system = Actor.system("test")
    people[OUTSIDER_ANALYST.key] = core_services.create_user(
        system, f"obj-{OUTSIDER_ANALYST.key}", OUTSIDER_ANALYST.role, TEST_PASSWORD
    )
    return people


def build_case(shape: Shape, number: int, people: dict[str, User]) -> Case:
    """Opened by its author, its team added, its values and subject recorded,
    then brought to its status (a closed case takes no observables)."""
    author = Actor.of(people[shape.author])
    case = services.create_case(
        author,
        {
            "title": f"Matrix {shape.key}",
            "title_language": "en",
            "categories": ["fraud"],
            "confidential": shape.confidential,
        },
    )
    for key in sorted(shape.team - {shape.author}):
        services.add_member(author, case, people[key])
    services.add_observable(author, case, "domain", shape.domain())
    services.add_observable(author, case, "ipv4", f"198.51.100.{number + 10}")
    for value in shape.shared:
        services.add_observable(author, case, "domain", value)
    services.add_subject(
        author,
        case,
        {
            "kind": "person",
            "family_name": "Wang",
            "given_name": "Wei",
            "birth_date": f"1970-01-{number + 1:02d}",
        },
    )
    if shape.status != CaseStatus.OPEN:
        services.change_status(author, case, shape.status)
    case.refresh_from_db()
    return case


def build_cases(people: dict[str, User]) -> dict[str, Case]:
    return {shape.key: build_case(shape, n, people) for n, shape in enumerate(SHAPES)}
