"""The review form of the administrators' console (roles/reviews/manage_views.py). It parses what
was typed into the `values` dict that services.create_review and services.update_review take;
the ranges and combinations are checked by the service alone (roles.reviews.rules.check_review),
so a message reads the same on the page and in the API."""

from datetime import date

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from roles.forms import add_refusal
from roles.models import Role, Scope
from roles.reviews import services
from roles.reviews.choices import EndType, NoResponse, Recurrence, ReviewedTypes, ReviewerType
from roles.reviews.models import AccessReview

# What a field that cannot even be parsed says; the range is the service's (rules.py).
WHOLE_DAYS = "%(label)s: a whole number of days%(range)s."
A_DATE = "%(label)s: a date such as 2026-12-31."
NOT_A_CHOICE = "%(label)s: '%(value)s' is not one of the choices offered."
TOO_LATE = "%(label)s: a date before %(last)s."
LAST_DATE = date(9000, 1, 1)
TIME_ZONE_REQUIRED = "Time zone: required, a time zone name such as Europe/Paris or UTC."
LOCKED_HELP = "Fixed once the review has started."


def _days_field(label: str, *, required: bool = False, initial=None, range_text: str = "", help_text: str = ""):
    message = WHOLE_DAYS % {"label": label, "range": range_text}
    return forms.IntegerField(
        label=label, required=required, initial=initial, help_text=help_text,
        error_messages={"invalid": message, "required": message},
    )  # fmt: skip


class _DateField(forms.DateField):
    """An HTML date input. A date near the end of the calendar is refused here: the schedule
    arithmetic (roles.reviews.schedule) would overflow on it, and the service does not check."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def to_python(self, value):
        value = super().to_python(value)
        if value is not None and value >= LAST_DATE:
            raise ValidationError(self.error_messages["too_late"], code="too_late")
        return value


def _date_field(label: str, *, required: bool, help_text: str = "") -> forms.DateField:
    message = A_DATE % {"label": label}
    return _DateField(
        label=label, required=required, help_text=help_text,
        error_messages={"invalid": message, "required": message,
                        "too_late": TOO_LATE % {"label": label, "last": f"{LAST_DATE:%Y-%m-%d}"}},
    )  # fmt: skip


def _users():
    return get_user_model().objects.order_by("username")


class ReviewForm(forms.Form):
    """Every setting of an access review, grouped as the page shows them (`SECTIONS`). On edit,
    `review` gives the initial values; once it has started (`locked`), the fields of
    services.LOCKED_ONCE_STARTED are disabled and keep their saved values."""

    # What to review
    name = forms.CharField(label="Name", required=False, widget=forms.TextInput(attrs={"maxlength": 150}))
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    roles = forms.ModelMultipleChoiceField(
        label="Roles", required=False, queryset=Role.objects.order_by("name"),
        widget=forms.SelectMultiple(attrs={"size": 8}), help_text="At least one.",
    )  # fmt: skip
    scopes = forms.ModelMultipleChoiceField(
        label="Scopes", required=False, queryset=Scope.objects.order_by("path"),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="None chosen: every scope. Otherwise assignments at these scopes or below them.",
    )  # fmt: skip
    assignment_types = forms.ChoiceField(
        label="Assignment types", choices=ReviewedTypes.choices, initial=ReviewedTypes.BOTH, widget=forms.RadioSelect
    )
    inactive_days = _days_field(
        "Inactive holders only (days)", range_text=" from 1 to 730, or empty",
        help_text="Only holders who have not used the role for this many days (1 to 730). Empty: every holder.",
    )  # fmt: skip
    # Who reviews
    reviewer_type = forms.ChoiceField(
        label="Reviewers", choices=ReviewerType.choices, initial=ReviewerType.USERS, widget=forms.RadioSelect
    )
    reviewers = forms.ModelMultipleChoiceField(
        label="Reviewers (users)", required=False, queryset=get_user_model().objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 6}), help_text="With specific users or groups.",
    )  # fmt: skip
    reviewer_groups = forms.ModelMultipleChoiceField(
        label="Reviewer groups", required=False, queryset=Group.objects.order_by("name"),
        widget=forms.SelectMultiple(attrs={"size": 4}), help_text="Every member of a chosen group reviews.",
    )  # fmt: skip
    fallback_reviewer = forms.ModelChoiceField(
        label="Fallback reviewer", required=False, queryset=get_user_model().objects.none(),
        help_text="Reviews what nobody else may (no approvers, or a holder who is the only reviewer). "
        "Required when the role's approvers review.",
    )  # fmt: skip
    # When
    start_date = _date_field("Start date", required=True, help_text="The first occurrence starts at local midnight.")
    time_zone = forms.CharField(
        label="Time zone", widget=forms.TextInput(attrs={"maxlength": 64}),
        error_messages={"required": TIME_ZONE_REQUIRED},
        help_text="A time zone name such as Europe/Paris or UTC; occurrences start and end at its midnight.",
    )  # fmt: skip
    duration_days = _days_field(
        "Duration (days)", required=True, initial=14, range_text=" from 1 to 180, shorter than the period",
        help_text="1 to 180 days for a one-time review; shorter than the period of a recurring one.",
    )  # fmt: skip
    recurrence = forms.ChoiceField(label="Recurrence", choices=Recurrence.choices, initial=Recurrence.ONE_TIME)
    end_type = forms.ChoiceField(
        label="End", choices=EndType.choices, initial=EndType.NEVER, widget=forms.RadioSelect,
        help_text="For a recurring review.",
    )  # fmt: skip
    end_date = _date_field("End date", required=False, help_text="With 'On a date': no occurrence starts after it.")
    end_after_occurrences = forms.IntegerField(
        label="Number of occurrences", required=False, help_text="With 'After a number of occurrences': 1 to 100.",
        error_messages={"invalid": "Number of occurrences: a whole number from 1 to 100."},
    )  # fmt: skip
    # Completion settings
    auto_apply = forms.BooleanField(label="Auto apply results to resource", required=False)
    no_response = forms.ChoiceField(
        label="If reviewers don't respond", choices=NoResponse.choices, initial=NoResponse.NO_CHANGE
    )
    require_justification = forms.BooleanField(label="Require justification on approval", required=False, initial=True)
    reminder_days_before = _days_field(
        "Reminder (days before the end)", range_text=", less than the duration, or empty",
        help_text="Remind reviewers who have not finished this many days before the end. Empty: no reminder.",
    )  # fmt: skip
    extra_recipients = forms.CharField(
        label="Additional recipients", required=False, widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Email addresses separated by commas (at most 10), told when an occurrence ends.",
    )  # fmt: skip

    SECTIONS = (
        ("What to review", ("name", "description", "roles", "scopes", "assignment_types", "inactive_days")),
        ("Who reviews", ("reviewer_type", "reviewers", "reviewer_groups", "fallback_reviewer")),
        ("When", ("start_date", "time_zone", "duration_days", "recurrence", "end_type", "end_date",
                  "end_after_occurrences")),
        ("Upon completion", ("auto_apply", "no_response", "require_justification", "reminder_days_before",
                             "extra_recipients")),
    )  # fmt: skip

    def __init__(self, data=None, *, review: AccessReview | None = None, locked: bool = False):
        self.review = review
        self.locked = locked
        super().__init__(data, initial=_initial(review))
        named = [user.pk for user in self.initial.get("reviewers", ())]
        if self.initial.get("fallback_reviewer") is not None:
            named.append(self.initial["fallback_reviewer"].pk)
        # Active users, and anyone already named, so that saving never drops a reviewer silently.
        users = _users().filter(Q(is_active=True) | Q(pk__in=named))
        for name in ("reviewers", "fallback_reviewer"):
            self.fields[name].queryset = users
            self.fields[name].label_from_instance = lambda user: user.get_username()
        for field in self.fields.values():
            if isinstance(field, forms.ChoiceField | forms.ModelChoiceField):
                field.error_messages["invalid_choice"] = NOT_A_CHOICE % {"label": field.label, "value": "%(value)s"}
                field.error_messages["invalid_pk_value"] = NOT_A_CHOICE % {"label": field.label, "value": "%(pk)s"}
        self.fields["scopes"].label_from_instance = lambda scope: (
            scope.path + (f" ({scope.name})" if scope.name else "")
        )
        if locked:
            for name in services.LOCKED_ONCE_STARTED:
                self.fields[name].disabled = True
                self.fields[name].help_text = f"{LOCKED_HELP} {self.fields[name].help_text}".strip()

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def clean_extra_recipients(self) -> list[str]:
        text = self.cleaned_data["extra_recipients"]
        return [address.strip() for address in text.split(",") if address.strip()]

    def clean(self):
        cleaned = super().clean()
        # The end fields that do not go with the chosen end are ignored, not refused: the page
        # keeps them when the end is switched back and forth.
        if cleaned.get("end_type") != EndType.ON_DATE:
            cleaned["end_date"] = None
            self.errors.pop("end_date", None)
        if cleaned.get("end_type") != EndType.AFTER_COUNT:
            cleaned["end_after_occurrences"] = None
            self.errors.pop("end_after_occurrences", None)
        return cleaned

    def values(self) -> dict:
        """The `values` argument of services.create_review / update_review."""
        data = self.cleaned_data
        values = {name: data[name] for name in services.SCALAR_FIELDS}
        values |= {name: list(data[name]) for name in services.MANY_FIELDS}
        return values

    def add_refusal(self, refusal: ValidationError) -> None:
        add_refusal(self, refusal)


def _initial(review: AccessReview | None) -> dict:
    if review is None:
        return {"time_zone": settings.TIME_ZONE, "start_date": timezone.localdate()}
    initial = services.values_of(review)
    initial["extra_recipients"] = ", ".join(review.extra_recipients)
    return initial
