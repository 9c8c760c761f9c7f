"""``INSTALLED_APPS = [..., "tessera.django"]`` registers Tessera's system checks."""

from __future__ import annotations

from django.apps import AppConfig


class TesseraConfig(AppConfig):
    """The ``tessera`` app: no models, only system checks."""

    name = "tessera.django"
    label = "tessera"
    verbose_name = "Tessera sessions"

    def ready(self) -> None:
        """Register the system checks of :mod:`tessera.django.checks`."""
        from tessera.django import checks

        checks.register()
