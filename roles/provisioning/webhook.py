"""Target kind "webhook": a signed JSON POST per grant and revoke to a URL the organisation runs;
2xx means done. The body carries an idempotency key, the same on every retry of one step, so a
receiver can drop a repeat. The signing secret is read from an environment variable."""

import json
import os
import re
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder

from audit.outbox import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, WEBHOOK_TIMEOUT, DeliveryError, post_signed, sign
from roles.provisioning.kinds import LOGIN_ATTRIBUTES, Access, ProvisioningError, login_by_attribute, params_error

VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")
PARAMS_HELP = (
    "Parameters: 'url' is the http(s) address that receives grant and revoke calls, 'secret_variable' names the "
    "environment variable holding the signing secret (capitals, digits and _), optional 'list_url' answers GET "
    "with {\"users\": [...]} for the drift check, and 'login_attribute' is one of %(attributes)s."
)


def _is_http(url) -> bool:
    if not isinstance(url, str) or len(url) > 500:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" and the like
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class WebhookKind:
    key = "webhook"
    label = "Webhook"
    params_help = (
        '{"url": "https://hooks.example.com/pim", "secret_variable": "PIM_HOOK_SECRET", '
        '"list_url": "https://hooks.example.com/pim/holders"}'
    )

    def check_params(self, params: dict) -> dict:
        url, variable, list_url = params.get("url"), params.get("secret_variable"), params.get("list_url") or ""
        attribute = params.get("login_attribute", "username")
        if (
            not _is_http(url)
            or not isinstance(variable, str)
            or not VARIABLE.match(variable)
            or (list_url and not _is_http(list_url))
            or attribute not in LOGIN_ATTRIBUTES
        ):
            raise params_error(PARAMS_HELP, attributes=", ".join(LOGIN_ATTRIBUTES))
        return {"url": url, "secret_variable": variable, "list_url": list_url, "login_attribute": attribute}

    def can_list(self, target) -> bool:
        return bool(target.params.get("list_url"))

    def login_of(self, target, user) -> str:
        return login_by_attribute(user, target.params.get("login_attribute", "username"))

    def _secret(self, target) -> str:
        variable = target.params["secret_variable"]
        secret = os.environ.get(variable)
        if not secret:
            raise ProvisioningError(f"the environment variable {variable} (the signing secret) is not set")
        return secret

    def _call(self, access: Access, action: str) -> None:
        body = json.dumps(
            {
                "action": action,
                "user": access.login,
                "email": access.user.email if access.user else "",
                "role": access.role,
                "scope": access.scope,
                "assignment_id": access.assignment_id,
                "until": access.until,
                "target": access.target.name,
                "idempotency_key": f"{access.idempotency_key}-{action}",
            },
            cls=DjangoJSONEncoder,
            separators=(",", ":"),
        ).encode()
        try:
            post_signed(
                access.target.params["url"],
                body=body,
                secret=self._secret(access.target),
                idempotency_key=f"{access.idempotency_key}-{action}",
            )
        except DeliveryError as error:
            raise ProvisioningError(f"the receiver answered {error}") from None

    def grant(self, access: Access) -> None:
        self._call(access, "grant")

    def revoke(self, access: Access) -> None:
        self._call(access, "revoke")

    def list_grants(self, target) -> set[str] | None:
        url = target.params.get("list_url")
        if not url:
            return None
        request = urllib.request.Request(  # noqa: S310  checked to be http(s) in check_params
            url,
            headers={
                SIGNATURE_HEADER: sign(secret=self._secret(target), body=b""),
                IDEMPOTENCY_HEADER: "list",
                "User-Agent": "PIM-Webhook/1",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
                users = json.loads(response.read(1_000_000)).get("users")
        except (urllib.error.URLError, OSError, ValueError, AttributeError) as error:
            raise ProvisioningError(f"the holder list at {url} could not be read: {error}") from None
        if not isinstance(users, list) or not all(isinstance(user, str) for user in users):
            raise ProvisioningError(f'the holder list at {url} is not {{"users": [names]}}')
        return set(users)
