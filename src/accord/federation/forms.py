from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accord.federation.models import Peer
from accord.federation.wire import MAX_SUBJECT, MAX_TEXT


class PeerForm(forms.Form):
    url = forms.URLField(label=_("Address of the peer node"), max_length=500, assume_scheme="https")
    fingerprint = forms.CharField(
        label=_("Fingerprint, as the other agency read it to you"), max_length=120
    )


LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]


class NoteForm(forms.Form):
    """The first note of a new thread."""

    peer = forms.ChoiceField(label=_("To node"))
    subject = forms.CharField(label=_("Subject"), max_length=MAX_SUBJECT)
    text = forms.CharField(
        label=_("Text"), max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 6})
    )
    language = forms.ChoiceField(label=_("Language of the text"), choices=LANGUAGES)
    request = forms.ChoiceField(label=_("About the request (optional)"), required=False)
    case = forms.ChoiceField(label=_("About our case (optional, not sent)"), required=False)

    def __init__(
        self,
        *args: Any,
        peers: Iterable[Peer] = (),
        requests: Iterable[Any] = (),
        cases: Iterable[Any] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "peer", [(p.node_id, f"{p.node_id} · {p.agency}") for p in peers])
        _choices(
            self,
            "request",
            [("", "—")] + [(str(r.pk), f"{r.reference} · {r.peer.node_id}") for r in requests],
        )
        _choices(
            self, "case", [("", "—")] + [(str(c.pk), f"{c.reference} · {c.title}") for c in cases]
        )


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=_("Reply"), max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 5})
    )
    language = forms.ChoiceField(label=_("Language of the text"), choices=LANGUAGES)


class CaseLinkForm(forms.Form):
    case = forms.ChoiceField(label=_("Our case (not sent)"), required=False)

    def __init__(self, *args: Any, cases: Iterable[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self, "case", [("", "—")] + [(str(c.pk), f"{c.reference} · {c.title}") for c in cases]
        )


def _choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices
