"""The registry of request types is the one place a type is described: every
type has one entry, and the form, the legal-basis choices, the API's enums,
the deadlines, the state machine and the docs' tables agree with it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polib
import pytest
from pydantic import BaseModel

from accord.assistance import deadlines
from accord.assistance.forms import RequestForm, fields_of
from accord.assistance.machine import TRANSITIONS
from accord.assistance.registry import (
    ENTRIES,
    GENERAL_BASES,
    TYPES,
    Branch,
    Start,
    bases_for,
    basis_fits,
    entry,
    needs_dual_criminality,
    response_times,
    types_on,
)
from accord.assistance.types import Condition, LegalBasis, RequestType, Urgency

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "assistance.md"
CATALOGUE = ROOT / "src" / "accord" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def test_every_request_type_has_exactly_one_entry():
    codes = [e.code for e in ENTRIES]
    assert sorted(codes) == sorted(RequestType.values)
    assert len(codes) == len(set(codes)) == len(TYPES)


# ---------------------------------------------------------------- the form


def schema_fields(schema: type[BaseModel]) -> list[tuple[str, str, bool]]:
    """(name, title, required) as the form must ask for them: nested parts field
    by field, conditions aside (they have rows of their own)."""
    found = []
    for name, info in schema.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += schema_fields(annotation)
        elif annotation != list[Condition]:
            assert info.title, f"{schema.__name__}.{name} has no title"
            found.append((name, info.title, info.is_required()))
    return found


@pytest.mark.parametrize("request_type", RequestType.values)
def test_the_forms_fields_are_the_schemas_fields(request_type):
    schema = entry(request_type).details
    form = RequestForm(request_type, ["us.test"])
    own = [(name, field) for name, field in form.fields.items() if name.startswith("d_")]
    assert [(name, str(field.label), field.required) for name, field in own] == [
        (f"d_{name}", title, required) for name, title, required in schema_fields(schema)
    ]
    assert [f.name for f in fields_of(schema)] == [name for name, *_ in schema_fields(schema)]
    has_conditions = any(
        info.annotation == list[Condition] for info in schema.model_fields.values()
    )
    assert ("c_1_kind" in form.fields) == has_conditions


def test_every_field_title_is_translated():
    translated = {e.msgid for e in polib.pofile(str(CATALOGUE)) if e.msgstr and not e.obsolete}
    titles = {title for e in ENTRIES for _name, title, _req in schema_fields(e.details)}
    assert titles - translated == set()
    assert {str(RequestType(t).label) for t in RequestType} - translated == set()


@pytest.mark.parametrize("request_type", RequestType.values)
def test_the_form_offers_the_legal_bases_that_fit_the_type(request_type):
    form = RequestForm(request_type, ["us.test"])
    offered = [value for value, _label in form.fields["legal_basis"].choices]
    assert offered == [basis.value for basis in bases_for(request_type)]
    assert all(basis_fits(request_type, basis) for basis in offered)


def test_a_general_basis_fits_every_type_and_every_basis_fits_some_type():
    for basis in LegalBasis:
        fitting = {t for t in RequestType if basis_fits(t, basis)}
        assert fitting == set(RequestType) if basis in GENERAL_BASES else len(fitting) >= 1


def test_dual_criminality_is_never_required_for_preservation_or_information():
    assert {t for t in RequestType if not needs_dual_criminality(t)} == {
        RequestType.PRESERVATION,
        RequestType.SPONTANEOUS,
    }


# ---------------------------------------------------------------- derived elsewhere


def test_the_api_schema_shows_the_enums():
    from accord.api import api

    schemas = api.get_openapi_schema()["components"]["schemas"]

    def enum_of(schema: str, field: str) -> list[str]:
        prop = schemas[schema]["properties"][field]
        ref = prop.get("$ref") or next((p["$ref"] for p in prop.get("allOf", [])), None)
        return (schemas[ref.rsplit("/", 1)[1]] if ref else prop)["enum"]

    assert enum_of("RequestIn", "request_type") == RequestType.values
    assert enum_of("RequestIn", "legal_basis") == LegalBasis.values
    assert enum_of("RequestIn", "urgency") == Urgency.values
    assert enum_of("RequestIn", "language") == ["en", "zh-hans"]
    assert enum_of("SummaryOut", "request_type") == RequestType.values


def test_the_state_machine_follows_each_types_branch():
    assert TRANSITIONS["preserve"].types == types_on(Branch.PRESERVATION)
    assert TRANSITIONS["respond"].types == types_on(Branch.EXECUTABLE)
    assert TRANSITIONS["accept_information"].types == types_on(Branch.SPONTANEOUS)
    assert TRANSITIONS["accept"].types == types_on(Branch.PRESERVATION) | types_on(
        Branch.EXECUTABLE
    )


# DOMAIN.md's figures ("Deadlines"), per class and urgency: (decide, respond).
# An urgency it gives no figure for takes the next slower one's.
DOMAIN_FIGURES = {
    "data": {
        "emergency": (8 * HOUR, 8 * HOUR),
        "urgent": (10 * DAY, 10 * DAY),
        "standard": (10 * DAY, 10 * DAY),
    },
    "evidence": dict.fromkeys(Urgency.values, (30 * DAY, 90 * DAY)),
    "police information": {
        "emergency": (8 * HOUR, 8 * HOUR),
        "urgent": (3 * DAY, 3 * DAY),
        "standard": (7 * DAY, 7 * DAY),
    },
    "spontaneous": dict.fromkeys(Urgency.values, (None, None)),
}
CLASS = {
    "preservation": "data",
    "traffic_disclosure": "data",
    "stored_data": "data",
    "data_order": "data",
    "general_evidence": "evidence",
    "locate_person": "police information",
    "identity_verification": "police information",
    "spontaneous": "spontaneous",
}


@pytest.mark.parametrize("request_type", RequestType.values)
def test_each_types_deadlines_are_domains_figures(request_type):
    assert entry(request_type).clock.name == CLASS[request_type]
    for urgency, figures in DOMAIN_FIGURES[CLASS[request_type]].items():
        assert response_times(request_type, urgency) == figures


def test_evidence_is_executed_from_the_decision_and_the_rest_from_receipt():
    from_decision = {e.code for e in ENTRIES if e.clock.respond_from == Start.DECISION}
    assert from_decision == {"general_evidence"}
    received = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert deadlines.decision_and_response_due(received, "general_evidence", "standard") == (
        received + 30 * DAY,
        None,
    )


# ---------------------------------------------------------------- the docs


def table(heading: str, header: str) -> list[list[str]]:
    """The rows of the table whose header row starts with `header`, after `heading`."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    rows: list[list[str]] = []
    inside = False
    for line in lines[lines.index(heading) :]:
        if line.startswith(f"| {header} |"):
            inside = True
        elif inside and not line.startswith("|"):
            break
        elif inside and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, f"no table '{header}' after {heading}"
    return rows


def codes(cell: str) -> list[str]:
    return re.findall(r"`([a-z0-9_]+)`", cell)


def test_the_docs_table_of_types_is_the_registry():
    rows = table("### 2.2 Types and their details", "type")
    assert [codes(row[0])[0] for row in rows] == [e.code for e in ENTRIES]
    for row, e in zip(rows, ENTRIES, strict=True):
        assert row[1] == e.label
        named = set(codes(row[2]))
        assert set(e.details.model_fields) <= named, f"{e.code}: fields missing in the docs"


def test_the_docs_table_of_legal_bases_is_the_registry():
    rows = table("### 2.1 Fields of every request", "legal basis")
    listed = [basis for row in rows for basis in codes(row[0])]
    assert sorted(listed) == sorted(LegalBasis.values)
    for row in rows:
        types = set(RequestType) if row[1] == "any type" else set(codes(row[1]))
        for basis in codes(row[0]):
            assert {t for t in RequestType if basis_fits(t, basis)} == types, basis


def test_the_docs_table_of_deadlines_is_the_registry():
    def shown(span: timedelta | None) -> str:
        if span is None:
            return "none"
        return f"{span // DAY} d" if span % DAY == timedelta(0) else f"{span // HOUR} h"

    rows = table("### 6.2 Decide and respond", "class")
    assert sorted(row[0] for row in rows) == sorted({e.clock.name for e in ENTRIES})
    for row in rows:
        on_it = [e for e in ENTRIES if e.clock.name == row[0]]
        assert codes(row[1]) == [e.code for e in on_it]
        clock = on_it[0].clock
        assert row[2:5] == [
            f"{shown(clock.rows[u][0])} / {shown(clock.rows[u][1])}"
            for u in (Urgency.EMERGENCY, Urgency.URGENT, Urgency.STANDARD)
        ]
