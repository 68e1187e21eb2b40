import io
from base64 import b32encode
from urllib.parse import urlencode

import django_otp
import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import user_has_device

from activations import selectors as activation_selectors
from audit import selectors as audit_selectors
from pimsite import services
from pimsite.forms import ApiTokenForm, CodeForm, EnrolForm
from pimsite.models import ApiToken
from roles import mfa
from roles.forms import add_refusal


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("home")


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Step one: username and password. Step two is the code (verify) or enrolment."""
    next_url = _next_url(request)
    if request.user.is_authenticated and request.user.is_verified():
        return redirect(next_url)
    form = AuthenticationForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        auth_login(request, form.get_user())  # rotates the session key
        return redirect(_with_next("accounts:verify", next_url))
    return render(request, "accounts/login.html", {"form": form, "next": next_url})


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Step two: a code from the authenticator app or a backup code."""
    next_url = _next_url(request)
    if request.user.is_verified():
        return redirect(next_url)
    if not user_has_device(request.user):
        return redirect(_with_next("accounts:enrol", next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = mfa.check_code(actor=request.user, token=form.cleaned_data["otp_token"])
        if check.device is not None:
            django_otp.login(request, check.device)
            request.session.cycle_key()  # a verified session never keeps the pre-MFA key
            mfa.record_verification(request.session, at=timezone.now())
            return redirect(next_url)
        form.add_error("otp_token", check.error)
    return render(request, "accounts/verify.html", {"form": form, "next": next_url})


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@never_cache
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in without a device: scan a QR code, confirm with a code, get backup codes."""
    next_url = _next_url(request)
    if user_has_device(request.user):
        return redirect(_with_next("accounts:verify", next_url))
    device = services.pending_totp_device(actor=request.user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        enrolment = services.confirm_totp_device(
            actor=request.user, device=device, token=form.cleaned_data["otp_token"]
        )
        if enrolment.codes is not None:
            django_otp.login(request, device)
            request.session.cycle_key()
            mfa.record_verification(request.session, at=timezone.now())
            return render(request, "accounts/backup_codes.html", {"codes": enrolment.codes, "next": next_url})
        form.add_error("otp_token", enrolment.error)
    secret = b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "next": next_url,
        "qr_svg": _qr_svg(device.config_url),
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    }
    return render(request, "accounts/enrol.html", context)


@never_cache
@require_POST
def backup_codes(request: HttpRequest) -> HttpResponse:
    """Issue a fresh set of backup codes (the old ones stop working)."""
    codes = services.regenerate_backup_codes(actor=request.user)
    return render(request, "accounts/backup_codes.html", {"codes": codes, "next": reverse("home")})


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def change_password(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.change_password(actor=request.user, new_password=form.cleaned_data["new_password1"])
        update_session_auth_hash(request, request.user)  # other sessions end; this one goes on
        messages.success(request, "Your password has been changed. Other sessions are signed out.")
        return redirect("home")
    return render(request, "accounts/password.html", {"form": form})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {
        "eligible_count": activation_selectors.eligible_roles_for(user=request.user, at=now).count(),
        "active": activation_selectors.active_roles_for(user=request.user, at=now).filter(start_at__lte=now),
        "to_decide_count": activation_selectors.pending_for_approver(user=request.user).count(),
    }
    return render(request, "home.html", context)


@require_GET
def admin_refused(request: HttpRequest) -> HttpResponse:
    return render(request, "admin_refused.html", status=403)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the database and the task queue's broker answer."""
    status = {"database": "ok", "task_queue": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001  any failure means "not reachable"
        status["database"] = "unreachable"
    try:
        from django_q.brokers import get_broker

        if not get_broker().ping():
            status["task_queue"] = "unreachable"
    except Exception:  # noqa: BLE001
        status["task_queue"] = "unreachable"
    healthy = status["database"] == "ok"
    return JsonResponse({"status": "ok" if healthy else "unavailable", **status}, status=200 if healthy else 503)


NOTIFICATIONS_PER_PAGE = 25


@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """What PIM has mailed you (or is about to), newest first, with where to act."""
    messages_sent = audit_selectors.notifications_for(user=request.user)
    page = Paginator(messages_sent, NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "accounts/notifications.html", {"page": page})


@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Personal API tokens: make one (its secret shown once, on this response only), list them,
    revoke one. Reached only with an OTP-verified session (RequireVerifiedSessionMiddleware)."""
    form = ApiTokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.create_api_token(actor=request.user, **form.cleaned_data)
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(request, f"Token {token.name} created. Copy it now: it is not shown again.")
            form = ApiTokenForm()
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    return render(request, "accounts/tokens.html", {"form": form, "secret": secret, "tokens": tokens,
                                                    "now": timezone.now()})  # fmt: skip


@require_POST
def revoke_api_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if services.revoke_api_token(actor=request.user, token=token):
        messages.success(request, f"Token {token.name} revoked.")
    return redirect("account-tokens")
