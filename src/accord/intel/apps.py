from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntelConfig(AppConfig):
    name = "accord.intel"
    label = "intel"
    verbose_name = _("Threat intelligence")

    def ready(self) -> None:
        # Registers the intel.* message kinds (partner sync over the channel).
        from accord.intel import inbound  # noqa: F401
