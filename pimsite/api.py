"""What every endpoint of /api/v1/ shares: who may call (bearer tokens, or an OTP-verified
session with CSRF), how errors look, how lists page, and the schema's error responses. The
endpoints themselves live in each app's api.py; pimsite/urls.py routes them."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from activations.exceptions import AlreadyDecided


class NewestFirstCursorPagination(CursorPagination):
    """Opaque cursors: stable under inserts, and as fast on the last page as on the first."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200


def error_messages(error: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError as the API's field errors; "non_field_errors" for the rest."""
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field in (None, "__all__") else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}


def exception_handler(exc, context):
    """400 {"errors": {field: [message]}} for bad input (a refusal from a service included);
    409 for a request already decided; {"detail", "code"} for every other error."""
    if isinstance(exc, AlreadyDecided):
        return Response({"detail": " ".join(exc.messages), "code": exc.rule}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response({"errors": error_messages(exc)}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"errors": _flatten(data)}
    elif isinstance(exc, exceptions.APIException):
        response.data = {"detail": str(exc.detail), "code": getattr(exc.detail, "code", None) or exc.default_code}
    return response


def _flatten(data, prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors as dotted field names: {"items.0.role": ["..."]}."""
    flat: dict[str, list[str]] = {}
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict | list)):
            flat |= _flatten(value, f"{name}.")
        elif isinstance(value, list):
            flat[name] = [str(message) for message in value]
        else:
            flat[name] = [str(value)]
    return flat


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "pimsite.api_auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal token from /account/tokens/."}


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "pimsite.api_auth.VerifiedSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


ERROR_SCHEMAS = {
    "FieldErrors": {
        "type": "object",
        "properties": {
            "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
        },
        "required": ["errors"],
    },
    "Error": {
        "type": "object",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
        "required": ["detail"],
    },
}
ERROR_RESPONSES = {
    "400": ("FieldErrors", "Bad input: each field with what rule it broke and the allowed range."),
    "401": ("Error", "No credentials, or a token that is unknown, expired or revoked."),
    "403": ("Error", "Signed in, but this endpoint is not for this caller or token."),
    "404": ("Error", "No such object, or not one the caller may see."),
    "409": ("Error", "Conflict with the object's current state: already decided, already ended, still in use."),
    "429": ("Error", "Too many requests; retry after the Retry-After header's seconds."),
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular hook: every operation documents the error shapes it can answer with."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, (schema, description) in ERROR_RESPONSES.items():
                responses.setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
                })  # fmt: skip
    return result
