from django import forms

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
