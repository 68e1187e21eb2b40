"""The product's URLs plus the bare views each figure is divided by. Bench-only: the product's
pimsite.urls never lists them. They run behind the same middleware as the pages they stand in for,
so a ratio measures what the product's own view adds."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from pimsite.urls import urlpatterns as product_urlpatterns

BARE_PAGE = "<!doctype html><html><head><title>bare</title></head><body><p>bare page</p></body></html>"


@csrf_exempt  # stands in for DRF views, which do their own CSRF check (none for bearer tokens)
def bare_api(request: HttpRequest) -> JsonResponse:
    """Under /api/ like /api/v1/check/: the session middleware lets it through unauthenticated."""
    return JsonResponse({"ok": True}, status=201 if request.method == "POST" else 200)


def bare_page(request: HttpRequest) -> HttpResponse:
    """Outside /api/ like /my-roles/ and /audit/: RequireVerifiedSessionMiddleware loads the
    session, the user and the OTP device before it is called, as it does for them."""
    return HttpResponse(BARE_PAGE)


urlpatterns = [
    path("api/bench/bare/", bare_api, name="bench-bare-api"),
    path("bench/bare/", bare_page, name="bench-bare-page"),
    *product_urlpatterns,
]
