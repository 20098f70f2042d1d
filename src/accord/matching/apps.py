from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "accord.matching"
    label = "matching"
    verbose_name = _("Hit/no-hit")

    def ready(self) -> None:
        # Registers the matching.* message kinds with the federation channel,
        # hit/no-hit's indicators for the dialogue, and the receiver that drops
        # a blinded set when one of its values is removed.
        from accord.matching import answering, inbound, indicators  # noqa: F401
