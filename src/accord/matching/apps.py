from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "accord.matching"
    label = "matching"
    verbose_name = _("Hit/no-hit")

    def ready(self) -> None:
        # Registers the matching.* message kinds with the federation channel.
        from accord.matching import inbound  # noqa: F401
