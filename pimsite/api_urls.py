"""/api/: the OpenAPI schema, its interactive docs (Swagger UI from our own static files), and
version 1 of the API, assembled from each app's api.py."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from activations import api as activations_api
from pimsite import api  # noqa: F401  registers the schema's authentication extensions

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, view, name in activations_api.urlpatterns_v1]
