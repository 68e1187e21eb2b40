"""Break-glass (emergency) accounts: who they are, and flagging or unflagging one (an active
Global Administrator only; roles.services.breakglass checks it)."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from roles import services
from roles.forms import add_refusal
from roles.models import BreakGlassAccount
from roles.permissions import pim_administrator_required


class BreakGlassForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.none(), to_field_name="username")
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this account exists and where its credentials are kept (audited).",
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["user"].label_from_instance = lambda user: user.get_username()


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def break_glass(request: HttpRequest) -> HttpResponse:
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.flag_break_glass(actor=request.user, **form.cleaned_data)
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(request, f"{form.cleaned_data['user'].get_username()} is now a break-glass account.")
            return redirect("manage:break-glass")
    accounts = BreakGlassAccount.objects.select_related("user", "flagged_by")
    return render(request, "manage/break_glass.html", {"form": form, "accounts": accounts})


@pim_administrator_required
@require_POST
def unflag(request: HttpRequest, username: str) -> HttpResponse:
    flag = BreakGlassAccount.objects.select_related("user").filter(user__username=username).first()
    if flag is None:
        messages.error(request, f"{username} is not a break-glass account.")
        return redirect("manage:break-glass")
    try:
        services.unflag_break_glass(actor=request.user, user=flag.user, reason=request.POST.get("reason", ""))
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"{username} is no longer a break-glass account; its assignment stays until removed.")
    return redirect("manage:break-glass")
