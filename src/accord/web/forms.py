from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accord.core.roles import Role


class RepeatedPasswordForm(forms.Form):
    """A form whose new password is typed twice; the two must match."""

    repeated = ("password", "password_again")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        first, second = self.repeated
        if data.get(first) and data.get(first) != data.get(second):
            self.add_error(second, _("The two passwords differ."))
        return data


class CreateUserForm(RepeatedPasswordForm):
    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput)
    password_again = forms.CharField(label=_("Password again"), widget=forms.PasswordInput)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class ActiveForm(forms.Form):
    active = forms.BooleanField(required=False)


class PasswordChangeForm(RepeatedPasswordForm):
    repeated = ("new_password", "new_password_again")

    old_password = forms.CharField(label=_("Current password"), widget=forms.PasswordInput)
    new_password = forms.CharField(label=_("New password"), widget=forms.PasswordInput)
    new_password_again = forms.CharField(label=_("New password again"), widget=forms.PasswordInput)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}
        ),
        help_text=_("The 6 digits your authenticator app shows, or one of your recovery codes."),
    )


class AuditFilterForm(forms.Form):
    action = forms.CharField(label=_("Action"), required=False, max_length=100)
    actor = forms.CharField(label=_("Actor"), required=False, max_length=200)
