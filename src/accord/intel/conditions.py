"""Handling conditions an analyst of this node sets on what it imports (the
import form, `accord intel import`): read and checked here, then written into
the objects, where the release rules find them (docs/intel.md, "Handling
conditions")."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core.identity import this_node
from accord.intel import stix
from accord.intel.models import HandlingCode


def handling_from(
    code: str, reliability: str = "", accuracy: str = "", purpose: str = "", expires: str = ""
) -> stix.Handling | None:
    """Conditions an analyst of this node sets on import (form or CLI); None
    when no handling code is given. ValidationError says what is wrong."""
    code, reliability, purpose = code.strip(), reliability.strip().upper(), purpose.strip()
    if not code:
        if reliability or accuracy.strip() or purpose or expires.strip():
            raise ValidationError(_("Choose a handling code to go with the other conditions."))
        return None
    if code not in HandlingCode.values:
        raise ValidationError(_("Unknown handling code %(code)s.") % {"code": code})
    if reliability and reliability not in stix.RELIABILITY:
        raise ValidationError(_("Source reliability is a letter from A to F."))
    level = None
    if accuracy.strip():
        if accuracy.strip() not in ("1", "2", "3", "4", "5", "6"):
            raise ValidationError(_("Information accuracy is a number from 1 to 6."))
        level = int(accuracy)
    if len(purpose) > 1000:
        raise ValidationError(_("Say the purpose in at most 1,000 characters."))
    until = None
    if expires.strip():
        try:
            text = expires.strip()
            until = stix.parse_timestamp(text + ("T23:59:59Z" if len(text) == 10 else ""))
        except ValueError:
            raise ValidationError(_("Give the expiry as a date (YYYY-MM-DD).")) from None
        if until <= timezone.now():
            raise ValidationError(_("The expiry must be in the future."))
    return stix.Handling(
        code=code,
        originator=this_node().node_id,
        reliability=reliability,
        accuracy=level,
        purpose=purpose,
        expires=until,
    )


def with_conditions(objects: list[Any], handling: stix.Handling | None) -> list[Any]:
    """Objects being imported on this node, given its analyst's conditions
    (objects that carry conditions of their own keep them)."""
    if handling is None:
        return objects
    return [stix.with_handling(o, handling) if isinstance(o, dict) else o for o in objects]
