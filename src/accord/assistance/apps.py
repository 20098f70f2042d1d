from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistanceConfig(AppConfig):
    name = "accord.assistance"
    label = "assistance"
    verbose_name = _("Assistance requests")

    def ready(self) -> None:
        # Registers the assistance.* message kinds with the federation channel,
        # requests as replicated items (federation.replicas),
        # and the request workflow's indicators for the dialogue.
        from accord.assistance import inbound, indicators, replica  # noqa: F401
