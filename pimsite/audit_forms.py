"""The audit pages' GET filters (pimsite.audit_views). A filter with a bad value is dropped and
the page says so, naming the filter and what it accepts, as the console's AssignmentFilterForm
does; the export refuses instead (a file cannot say what it left out)."""

from datetime import datetime, timedelta

from django import forms

from roles.forms import FILTER_IGNORED, UTCDateTimeField

# Each group is the actions it covers: an exact action, or a prefix ending in '.'. Activation
# covers every kind of request (activate, deactivate, extend, renew; activations.services.
# workflow.EVENT_NOUNS); approval covers the decisions on them and approval.refused; alert and
# review name what those features will record.
REQUEST_NOUNS = ("activation", "deactivation", "extension", "renewal")
DECISION_VERBS = ("approval_requested", "approved", "denied", "stage_passed", "escalated")
ACTION_GROUPS = {
    "activation": tuple(f"{noun}." for noun in REQUEST_NOUNS),
    "assignment": ("assignment.",),
    "settings": ("settings.", "role.", "scope."),
    "approval": ("approval.", *(f"{noun}.{verb}" for noun in REQUEST_NOUNS for verb in DECISION_VERBS)),
    "sign-in": ("auth.",),
    "alert": ("alert.",),
    "review": ("review.",),
}
GROUP_LABELS = {"sign-in": "Sign-in"}
PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PERIOD_CHOICES = [
    ("", "Any time"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom (since and until)"),
]

UNKNOWN_GROUP = "'%(value)s' is not a group; give one of: " + ", ".join(ACTION_GROUPS) + "."
UNKNOWN_PERIOD = "'%(value)s' is not a period; give one of: 24h, 7d, 30d, custom."
NOT_A_DATE_TIME = "Give a date and time in UTC, e.g. 2026-11-22T09:00."
UNTIL_NOT_AFTER_SINCE = "Until must be after since."
BAD_CURSOR = "Older than is a sequence number from 1 up; the list starts again from the newest."
TEXT_FIELDS = ("actor", "principal", "role", "scope")


class AuditFilterForm(forms.Form):
    """Every filter given narrows the log (audit.selectors.filtered_events); `before` is the
    page cursor, kept out of the form shown (a new filter starts from the newest event)."""

    actor = forms.CharField(label="Actor", required=False, max_length=150, help_text="A username.")
    principal = forms.CharField(label="Principal", required=False, max_length=150, help_text="A username.")
    role = forms.CharField(label="Role", required=False, max_length=100, help_text="A role slug.")
    scope = forms.CharField(label="Scope", required=False, max_length=400, help_text="A scope path, exactly.")
    group = forms.ChoiceField(
        label="Action",
        required=False,
        choices=[("", "Any"), *((name, GROUP_LABELS.get(name, name.capitalize())) for name in ACTION_GROUPS)],
        error_messages={"invalid_choice": UNKNOWN_GROUP},
    )
    period = forms.ChoiceField(
        label="Period", required=False, choices=PERIOD_CHOICES, error_messages={"invalid_choice": UNKNOWN_PERIOD}
    )
    since = UTCDateTimeField(label="Since (UTC)", required=False, error_messages={"invalid": NOT_A_DATE_TIME})
    until = UTCDateTimeField(label="Until (UTC)", required=False, error_messages={"invalid": NOT_A_DATE_TIME})
    q = forms.CharField(label="Text", required=False, max_length=200, help_text="In the justification or ticket.")
    before = forms.IntegerField(
        label="Older than",
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"invalid": BAD_CURSOR, "min_value": BAD_CURSOR},
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until <= since:
            self.add_error("until", UNTIL_NOT_AFTER_SINCE)  # dropped; since still narrows
        return cleaned

    def problems(self) -> list[str]:
        """One sentence per filter that was ignored."""
        return [
            FILTER_IGNORED % {"label": self.fields[name].label, "error": " ".join(errors)}
            for name, errors in self.errors.items()
        ]

    def selection(self, *, now: datetime) -> dict:
        """The valid filters as audit.selectors.filtered_events's arguments. A preset period
        counts back from `now` and wins over since and until."""
        self.is_valid()
        data = self.cleaned_data
        selection = {name: data.get(name) or "" for name in TEXT_FIELDS}
        selection["text"] = data.get("q") or ""
        selection["actions"] = ACTION_GROUPS.get(data.get("group") or "", ())
        period = data.get("period")
        if period in PERIODS:
            selection["since"] = now - PERIODS[period]
        else:
            selection["since"], selection["until"] = data.get("since"), data.get("until")
        return selection

    def filtered(self) -> bool:
        """Whether any filter (not the cursor) narrows the list."""
        self.is_valid()
        return any(value not in (None, "") for name, value in self.cleaned_data.items() if name != "before")
