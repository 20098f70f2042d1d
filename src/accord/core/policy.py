"""What every app's policy module shares.

Each app has a `policy.py` whose `allowed(user, action, obj)` answers "may this
user do this to this object now?" from the permission table and the app's state
machine. It returns a `Refusal` (the reason and the HTTP status that fits it) or
None. Services enforce the answer; pages and the API ask the same function which
actions to offer, so no view or template recomputes a rule."""

from __future__ import annotations

from dataclasses import dataclass

# Why a step is refused decides its status: who asks (403), the object's state
# or version (409), or what the step carries (422).
FORBIDDEN = 403
CONFLICT = 409
UNPROCESSABLE = 422


@dataclass(frozen=True)
class Refusal:
    reason: str
    status: int = FORBIDDEN

    def __str__(self) -> str:
        return self.reason


class Refused(Exception):
    """A refused action. Nothing changed; the refusal was audited. Every app's
    refusal exception derives from it, so pages and the API handle one type."""

    def __init__(self, message: str, status: int = CONFLICT) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @classmethod
    def of(cls, refusal: Refusal) -> Refused:
        return cls(refusal.reason, refusal.status)


def offered(refusal: Refusal | None) -> bool:
    """For pages: an action is offered exactly when the policy allows it."""
    return refusal is None
