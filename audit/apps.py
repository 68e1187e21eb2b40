from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from audit import alerts
        from audit.chain import ensure_chain_head

        alerts.register(alerts.CHAIN_BROKEN)  # raised by audit.verification when the chain breaks

        # A flush (tests, `manage.py flush`) empties the chain-head table that the migration
        # filled; post_migrate puts the genesis row back, as Django does for content types.
        post_migrate.connect(ensure_chain_head, sender=self, dispatch_uid="audit.ensure_chain_head")
