"""The target form of the /manage/ console (roles/views/targets.py), and the two fields the Django
admin's target form shares with it (roles/provisioning/admin.py). They parse; the kind's
parameters, the name's length and its uniqueness are checked by roles.provisioning.services,
whose refusals roles.forms.add_refusal puts beside these fields."""

import json

from django import forms
from django.core.exceptions import ValidationError

from roles.provisioning import kinds, services
from roles.provisioning.models import Target

NOT_JSON = "Parameters: not valid JSON: %(problem)s."
NOT_AN_OBJECT = 'Parameters: a JSON object such as {"key": "value"} is expected, not %(found)s.'
KIND_REQUIRED = "Kind: required, one of %(choices)s."
PARAMS_HELP = "A JSON object. Secrets never go here: name the environment variable that holds one."
JSON_TYPES = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true or false"}


class ParamsField(forms.CharField):
    """The parameters as typed JSON: an object, or nothing ({}: the kind then says what it needs).
    Shown indented when the value is already a dict (a target's saved parameters)."""

    widget = forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"})

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Parameters")
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value):
        return json.dumps(value, indent=2) if isinstance(value, dict) else value

    def to_python(self, value) -> dict:
        if isinstance(value, dict):
            return value
        text = super().to_python(value)
        if not text:
            return {}
        try:
            params = json.loads(text)
        except json.JSONDecodeError as error:
            problem = f"{error.msg} at line {error.lineno}, column {error.colno}"
            raise ValidationError(NOT_JSON, code="invalid_json", params={"problem": problem}) from None
        if not isinstance(params, dict):
            found = "null" if params is None else JSON_TYPES.get(type(params), type(params).__name__)
            raise ValidationError(NOT_AN_OBJECT, code="not_an_object", params={"found": found})
        return params


def kind_field() -> forms.ChoiceField:
    """The registered kinds by label; a value that is not one of them is refused in the same words
    as kinds.check_kind (the registry is read when the form is made: apps register in ready())."""
    keys = ", ".join(sorted(key for key, _ in kinds.choices()))
    return forms.ChoiceField(
        label="Kind",
        choices=[("", "Choose a kind"), *kinds.choices()],
        error_messages={
            "required": KIND_REQUIRED % {"choices": keys},
            # %(value)s is left for the field to fill in with what was sent.
            "invalid_choice": kinds.UNKNOWN_KIND % {"value": "%(value)s", "choices": keys},
        },
    )


class TargetForm(forms.Form):
    """Add a target to a role (every field), or edit one (its kind cannot change: the field is
    left out, and the page shows the kind as text). Field names are the services' keywords."""

    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="How pages, mails and the audit log name it; unique within the role.",
        error_messages={"required": services.NAME_REQUIRED, "max_length": services.NAME_REQUIRED},
    )
    kind = forms.ChoiceField()  # replaced by kind_field() in __init__
    params = ParamsField(help_text=PARAMS_HELP)
    enabled = forms.BooleanField(
        label="On: grant this role's holders access on the target",
        required=False,
        initial=True,
        help_text="Turning a target off revokes what PIM granted there.",
    )
    revoke_outside_grants = forms.BooleanField(
        label="Revoke grants made outside PIM",
        required=False,
        help_text=Target._meta.get_field("revoke_outside_grants").help_text,
    )

    def __init__(self, data=None, *, target: Target | None = None):
        initial = None
        if target is not None:
            initial = {
                "name": target.name,
                "params": target.params,
                "enabled": target.enabled,
                "revoke_outside_grants": target.revoke_outside_grants,
            }
        super().__init__(data, initial=initial)
        if target is None:
            self.fields["kind"] = kind_field()
        else:
            del self.fields["kind"]  # fixed once made: update_target takes no kind
