"""Observables: the values a case holds and hit/no-hit compares (DOMAIN.md,
"Observables"), and the rules that bring every way of writing a value to one
normal form.

Two observables are the same exactly when their type and normal form are
equal; matching (the correlation index and hit/no-hit) compares the key
f"{code}:{normal}" and nothing else. A value that does not parse is refused
with ObservableError, whose reason names what is wrong; it is never stored
half-normalised. Normalising a normal form gives it back unchanged.

The types and their rules are in `registry.TYPES`; the decisions behind each
rule are documented in the module that implements it (network, wallets,
documents, people)."""

from accord.cases.observables.base import Observable, ObservableError, ObservableType
from accord.cases.observables.people import name_key, person_key
from accord.cases.observables.registry import (
    choices,
    observable_type,
    observable_types,
    parse_observable,
)

__all__ = [
    "Observable",
    "ObservableError",
    "ObservableType",
    "choices",
    "name_key",
    "observable_type",
    "observable_types",
    "parse_observable",
    "person_key",
]
