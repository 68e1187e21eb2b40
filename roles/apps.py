from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_migrate


def _ensure_builtin_roles(using="default", **kwargs) -> None:
    from roles.builtin import ensure_builtin_roles
    from roles.models import Role, RoleSettings, Scope

    if not Role.objects.using(using).filter(is_builtin=True).exists() or not Scope.objects.using(using).exists():
        ensure_builtin_roles(Role, RoleSettings, Scope)


class RolesConfig(AppConfig):
    name = "roles"
    verbose_name = "Roles and assignments"

    def ready(self) -> None:
        # The data migration creates the built-in roles; a flush (tests, `manage.py flush`)
        # removes them, and post_migrate after the flush puts them back.
        post_migrate.connect(_ensure_builtin_roles, sender=self, dispatch_uid="roles.ensure_builtin_roles")

        from django.contrib.auth import get_user_model

        from roles.alert_rules import register_rules

        register_rules()  # security alerts about roles and assignments (audit.alerts)

        from roles import hooks
        from roles.provisioning import engine, kinds
        from roles.provisioning.django_group import DjangoGroupKind
        from roles.provisioning.postgres import PostgresRoleKind
        from roles.provisioning.webhook import WebhookKind

        for kind in (DjangoGroupKind(), PostgresRoleKind(), WebhookKind()):
            kinds.register(kind)
        hooks.on_window_set(engine.reconcile_assignment)  # grant when an active assignment is made
        hooks.on_ended(engine.reconcile_assignments)  # revoke when they end

        from roles.signals import membership_changed

        m2m_changed.connect(
            membership_changed, sender=get_user_model().groups.through, dispatch_uid="roles.membership_changed"
        )
