from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FederationConfig(AppConfig):
    name = "accord.federation"
    label = "federation"
    verbose_name = _("Federation")

    def ready(self) -> None:
        # Registers the kinds core.note, core.ping and core.key-rotation.
        from accord.federation import inbound  # noqa: F401
