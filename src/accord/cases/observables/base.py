"""What every observable type shares: the refusal, the registry entry and the
parsed value. The type modules import this one and nothing else of the
package, so the arrows point one way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# Longer than any legitimate value of any type (a URL is the longest); a
# bigger input is refused before any parser spends time on it.
MAX_RAW = 4096


class ObservableError(ValueError):
    """A value that does not parse as its type. The reason is rendered in the
    language active when it is read, not when the error was raised, so a
    refusal made in a background import reads right on the user's page."""

    def __init__(self, message: str | Promise, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    @property
    def reason(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text

    def __str__(self) -> str:
        return self.reason


def _same(normal: str) -> str:
    return normal


@dataclass(frozen=True)
class ObservableType:
    """One registry entry. `normalise(raw, **context)` returns the normal form
    or raises ObservableError; `context` names the keyword arguments it reads
    (others are ignored, so a caller may pass the same context to every type);
    `display` turns a normal form into what a person reads; `retype`, where
    present, says which type a normal form really belongs to (an IPv4-mapped
    IPv6 address is an IPv4 address)."""

    code: str
    label: str | Promise
    normalise: Callable[..., str]
    example: str
    context: tuple[str, ...] = ()
    display: Callable[[str], str] = _same
    retype: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Observable:
    code: str
    normal: str
    display: str

    @property
    def key(self) -> str:
        """What matching compares: two observables are the same exactly when
        their keys are equal."""
        return f"{self.code}:{self.normal}"


def stripped(raw: object) -> str:
    """The raw value without surrounding white space; refuses what is not a
    string, what is empty, and what is too long to be any observable."""
    if not isinstance(raw, str):
        raise ObservableError(_("The value must be text."))
    if len(raw) > MAX_RAW:
        raise ObservableError(_("The value is longer than %(max)s characters."), max=MAX_RAW)
    value = raw.strip()
    if not value:
        raise ObservableError(_("The value is empty."))
    return value


def split_prefixed(
    value: str, context_value: str | None, what: str | Promise, canonical: Callable[[str], str]
) -> tuple[str, str]:
    """A value written "PREFIX:rest" (how a normal form stores a country, for
    example) or given with the prefix in the context; returns the canonical
    prefix and the rest. Both at once must agree once canonical (CN and CHN
    do)."""
    head, sep, tail = value.partition(":")
    if not sep:
        if not context_value:
            raise ObservableError(_("The %(what)s is missing."), what=what)
        return canonical(context_value), value
    prefix = canonical(head)
    if context_value and canonical(context_value) != prefix:
        raise ObservableError(
            _("The value names %(given)s but %(what)s %(context)s was given."),
            given=head.strip(),
            what=what,
            context=context_value,
        )
    return prefix, tail.strip()
