from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvidenceConfig(AppConfig):
    name = "accord.evidence"
    label = "evidence"
    verbose_name = _("Evidence")

    def ready(self) -> None:
        # Registers the evidence.* message kinds with the federation channel
        # (transfer, custody, conditions and retention) and the transfer's
        # listeners (chunks applied or refused, new custody).
        from accord.evidence import (  # noqa: F401
            bulk_inbound,
            conditions_wire,
            custody_sync,
            inbound,
            transfer,
        )
