from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DialogueConfig(AppConfig):
    name = "accord.dialogue"
    label = "dialogue"
    verbose_name = _("Dialogue")

    def ready(self) -> None:
        # Registers the dialogue.* message kinds and the record's parts as
        # replicated items (federation.replicas); indicator sources register
        # themselves in their own apps (accord.core.indicators).
        from accord.dialogue import inbound, replica  # noqa: F401
