from django.core.exceptions import ValidationError


class ActivationRefused(ValidationError):
    """A refusal with a stable rule code (for the audit log and API clients), the field it
    belongs to, and a sentence that gives the allowed range."""

    def __init__(self, rule: str, message: str, *, field: str | None = None, params: dict | None = None):
        self.rule = rule
        error = ValidationError(message, code=rule, params=params or {})
        super().__init__({field: [error]} if field else error)


class AlreadyDecided(ActivationRefused):
    """The request was decided (or canceled, or timed out) before this decision arrived."""
