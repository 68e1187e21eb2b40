from django.apps import AppConfig


class ActivationsConfig(AppConfig):
    name = "activations"
    verbose_name = "Activations and approvals"

    def ready(self) -> None:
        from activations.alert_rules import register_rules
        from activations.scheduling import schedule_expiry
        from activations.selectors import pending_requests_per_role
        from roles.hooks import add_role_list_column, on_window_set

        # Every time-bound assignment, however made, gets its one-off expiry schedule.
        on_window_set(schedule_expiry)
        register_rules()  # security alerts about activations (audit.alerts)
        add_role_list_column("pending_requests", "Pending requests", pending_requests_per_role)
