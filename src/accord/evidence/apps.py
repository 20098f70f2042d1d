from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvidenceConfig(AppConfig):
    name = "accord.evidence"
    label = "evidence"
    verbose_name = _("Evidence")

    def ready(self) -> None:
        # Registers the evidence.* kinds of conditions and retention.
        from accord.evidence import conditions_wire  # noqa: F401
