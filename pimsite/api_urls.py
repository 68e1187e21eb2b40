"""/api/: the OpenAPI schema, its interactive docs (Swagger UI from our own static files), and
version 1 of the API, assembled from each app's api.py."""

from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from activations import api as activations_api
from pimsite import api, api_alerts, api_audit  # noqa: F401  api registers the schema's authentication extensions
from roles import api as roles_api
from roles.provisioning import api as provisioning_api
from roles.reviews import api as reviews_api

# Swagger UI sets inline style attributes; scripts stay 'self' only.
docs = csp_update({"style-src": ["'self'", "'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs, name="api-docs"),
]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, view, name in activations_api.urlpatterns_v1]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, view, name in roles_api.urlpatterns_v1]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, view, name in reviews_api.urlpatterns_v1]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, view, name in provisioning_api.urlpatterns_v1]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, view, name in api_audit.urlpatterns_v1]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, view, name in api_alerts.urlpatterns_v1]
