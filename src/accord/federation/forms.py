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


class NoteForm(forms.Form):
    peer = forms.ChoiceField(label=_("To node"))
    subject = forms.CharField(label=_("Subject"), max_length=MAX_SUBJECT)
    text = forms.CharField(
        label=_("Text"), max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 6})
    )
    language = forms.ChoiceField(
        label=_("Language of the text"), choices=[("en", "English"), ("zh-hans", "简体中文")]
    )

    def __init__(self, *args: Any, peers: Iterable[Peer] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        recipient = self.fields["peer"]
        assert isinstance(recipient, forms.ChoiceField)
        recipient.choices = [(p.node_id, f"{p.node_id} · {p.agency}") for p in peers]
