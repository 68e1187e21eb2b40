from django.apps import AppConfig


class ActivationsConfig(AppConfig):
    name = "activations"
    verbose_name = "Activations and approvals"

    def ready(self) -> None:
        from activations.scheduling import schedule_expiry
        from roles.hooks import on_assignment_created

        # Every time-bound assignment, however made, gets its one-off expiry schedule.
        on_assignment_created(schedule_expiry)
