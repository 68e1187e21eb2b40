from django import forms

from pimsite.models import TokenPermission

CODE_HELP = "The 6-digit code from your authenticator app, or one of your backup codes."


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Verification code",
        max_length=16,
        help_text=CODE_HELP,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "spellcheck": "false"}
        ),
        error_messages={"required": "Enter the verification code (6 digits, or a backup code)."},
    )


class EnrolForm(forms.Form):
    otp_token = forms.RegexField(
        label="Verification code",
        regex=r"^\s*\d{6}\s*$",
        help_text="The 6-digit code your app shows after scanning the QR code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        error_messages={
            "required": "Enter the 6-digit code your app shows.",
            "invalid": "A verification code is exactly 6 digits.",
        },
    )


class ApiTokenForm(forms.Form):
    """A new personal API token; the service checks every rule again and names the field."""

    name = forms.CharField(max_length=100, help_text="What uses it, e.g. 'laptop CLI' or 'deploy pipeline'.")
    expires_in_days = forms.IntegerField(
        label="Expires in (days)", initial=30, help_text="1 to 365 days; 30 unless you change it."
    )
    permissions = forms.MultipleChoiceField(
        choices=TokenPermission.choices, initial=[TokenPermission.API], widget=forms.CheckboxSelectMultiple,
        help_text="A token never replaces your authenticator app: actions that need a code still ask for one.",
    )  # fmt: skip
