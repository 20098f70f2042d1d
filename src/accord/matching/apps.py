from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "accord.matching"
    label = "matching"
    verbose_name = _("Hit/no-hit")

    def ready(self) -> None:
        # Registers the matching.* message kinds with the federation channel,
        # and hit/no-hit's indicators for the dialogue.
        from accord.matching import inbound, indicators  # noqa: F401
