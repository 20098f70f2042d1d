from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "accord.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from accord.core.services import audit_verified
        from accord.ops.models import remember_verification

        audit_verified.connect(remember_verification, dispatch_uid="ops-audit-verified")
