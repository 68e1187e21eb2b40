from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.utils import timezone

from activations.choices import EndChoice
from activations.rules import MIN_ACTIVATION_MINUTES
from roles.forms import UTCDateTimeField
from roles.rules import JUSTIFICATION_MAX_LENGTH, describe_minutes

STEP_MINUTES = 30


class ActivationForm(forms.Form):
    """One form for one or several eligible roles: one duration, start, justification, ticket
    and code for all of them. Field names are the service's keyword names."""

    duration = forms.TypedChoiceField(label="Duration", coerce=int)
    start = forms.ChoiceField(
        label="Start", choices=[("now", "Now"), ("later", "At a date and time")], initial="now",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose when the role should start: now or at a date and time."},
    )  # fmt: skip
    start_at = forms.DateTimeField(
        label="Start at (your time)", required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )  # fmt: skip
    time_zone = forms.CharField(required=False, widget=forms.HiddenInput)
    justification = forms.CharField(
        label="Justification", required=False, max_length=JUSTIFICATION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Why you need the role now (up to 500 characters).",
        # The same sentence as rules.JUSTIFICATION_TOO_LONG, with the validator's parameter names.
        error_messages={"max_length": "A justification can be at most %(limit_value)d characters; "
                                      "this one has %(show_value)d."},
    )  # fmt: skip
    ticket_system = forms.CharField(label="Ticket system", required=False, max_length=50)
    ticket_number = forms.CharField(label="Ticket number", required=False, max_length=50)
    otp_token = forms.CharField(
        label="Verification code", required=False, max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="The 6-digit code your authenticator app shows now.",
    )  # fmt: skip

    def __init__(self, *args, eligibilities, needs_code: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.eligibilities = list(eligibilities)
        maxima = [e.role.settings.activation_max_minutes for e in self.eligibilities]
        highest = max(maxima, default=MIN_ACTIVATION_MINUTES)
        steps = list(range(MIN_ACTIVATION_MINUTES, highest + 1, STEP_MINUTES))
        if highest not in steps:
            steps.append(highest)
        self.fields["duration"].choices = [(m, describe_minutes(m)) for m in steps]
        self.fields["duration"].initial = min(
            (_most_minutes(e, now=timezone.now()) for e in self.eligibilities), default=MIN_ACTIVATION_MINUTES
        )
        self.fields["duration"].help_text = "At least 30 min; at most " + ", ".join(
            f"{describe_minutes(e.role.settings.activation_max_minutes)} for {e.role.name}" for e in self.eligibilities
        )
        settings_of = [e.role.settings for e in self.eligibilities]
        self.fields["justification"].required = any(s.require_justification_on_activation for s in settings_of)
        self.needs_ticket = any(s.require_ticket_on_activation for s in settings_of)
        for name in ("ticket_system", "ticket_number"):
            self.fields[name].required = self.needs_ticket
            self.fields[name].error_messages["required"] = (
                "Ticket information is required for "
                + ", ".join(e.role.name for e in self.eligibilities if e.role.settings.require_ticket_on_activation)
                + ": both the ticket system and the ticket number."
            )
        self.needs_code = needs_code
        if needs_code:
            self.fields["otp_token"].required = True
            self.fields["otp_token"].error_messages["required"] = "Enter the 6-digit verification code."
        else:
            del self.fields["otp_token"]
        self.fields["justification"].error_messages["required"] = (
            "A justification is required for " + ", ".join(
                e.role.name for e in self.eligibilities if e.role.settings.require_justification_on_activation
            ) + " (1 to 500 characters)."
        )  # fmt: skip

    def drop_code_field(self) -> None:
        self.needs_code = False
        self.fields.pop("otp_token", None)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") != "later":
            cleaned["start_at"] = None
            return cleaned
        local = cleaned.get("start_at")
        if local is None:
            if "start_at" not in self.errors:
                self.add_error("start_at", "Choose the date and time the role should become active.")
            return cleaned
        try:
            zone = ZoneInfo(cleaned.get("time_zone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        naive = timezone.make_naive(local, timezone.get_current_timezone()) if timezone.is_aware(local) else local
        # In UTC, the way the service and its messages (rules.fmt_time) read every time.
        cleaned["start_at"] = datetime.combine(naive.date(), naive.time(), tzinfo=zone).astimezone(UTC)
        return cleaned


def _most_minutes(eligibility, *, now: datetime) -> int:
    """The longest activation the rules allow from now: the role's maximum, cut to whole steps
    before the eligibility ends (rules.check_activation refuses a window past its end)."""
    most = eligibility.role.settings.activation_max_minutes
    if eligibility.end_at is not None:
        left = int((eligibility.end_at - now).total_seconds() // 60)
        most = min(most, left - left % STEP_MINUTES)
    return max(most, MIN_ACTIVATION_MINUTES)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])
    justification = forms.CharField(required=False, max_length=JUSTIFICATION_MAX_LENGTH)


# Extend and renew ----------------------------------------------------------------------------


class AssignmentChangeForm(forms.Form):
    """Ask to extend or renew an eligible or administrator-made active assignment. Field names
    are the service's keyword names (services.request_extension, request_renewal)."""

    justification = forms.CharField(
        label="Justification", max_length=JUSTIFICATION_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why you need the role longer (up to 500 characters).",
        error_messages={"required": "Say why you need the role longer (1 to 500 characters).",
                        "max_length": "A justification can be at most %(limit_value)d characters; "
                                      "this one has %(show_value)d."},
    )  # fmt: skip
    requested_end_at = UTCDateTimeField(label="Until (UTC)", required=False)

    def __init__(self, *args, default_end: datetime | None, **kwargs):
        super().__init__(*args, **kwargs)
        longest = "permanent" if default_end is None else f"{default_end:%Y-%m-%d %H:%M} UTC"
        self.fields[
            "requested_end_at"
        ].help_text = f"Date and time in UTC. Leave empty for the longest the role allows from now: {longest}."


class ActivationExtensionForm(ActivationForm):
    """The activate page's form for one activated role: how much longer instead of how long and
    from when; the same justification, ticket and code fields and rules. It carries the end the
    holder saw (`expected_end_at`), so that a double submit adds the time once."""

    expected_end_at = forms.DateTimeField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, assignment, eligibility, needs_code: bool, **kwargs):
        super().__init__(*args, eligibilities=[eligibility], needs_code=needs_code, **kwargs)
        for name in ("start", "start_at", "time_zone"):
            del self.fields[name]
        self.fields["expected_end_at"].initial = assignment.end_at.isoformat()
        high = assignment.role.settings.activation_max_minutes
        granted = int((assignment.end_at - assignment.start_at).total_seconds() // 60)
        left = high - granted
        if eligibility.end_at is not None:
            left = min(left, int((eligibility.end_at - assignment.end_at).total_seconds() // 60))
        steps = list(range(STEP_MINUTES, left + 1, STEP_MINUTES)) + ([left] if left > 0 and left % STEP_MINUTES else [])
        duration = self.fields["duration"]
        duration.label = "Extend by"
        duration.choices = [(m, describe_minutes(m)) for m in steps]
        duration.initial = steps[-1] if steps else None
        duration.help_text = (
            f"{assignment.role.name} allows at most {describe_minutes(high)} in total; "
            f"{describe_minutes(granted)} are already granted."
        )
        self.fields["justification"].help_text = "Why you need the role longer (up to 500 characters)."
        self.can_extend = left > 0


class ChangeDecisionForm(DecisionForm):
    """An administrator's decision on an extension or renewal: approve as asked, or with
    another end (`end_at`, UTC), or as permanent; deny with a justification."""

    end_at = UTCDateTimeField(label="New end (UTC)", required=False)
    permanent = forms.BooleanField(label="Permanent", required=False)
    otp_token = forms.CharField(label="Verification code", required=False, max_length=20)

    def decision_end(self):
        """services.decide_request's end_at: as asked unless a new end (or permanent) is given."""
        if self.cleaned_data.get("permanent"):
            return None
        return self.cleaned_data.get("end_at") or EndChoice.AS_REQUESTED
