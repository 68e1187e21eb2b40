"""The OpenAPI schema and its docs: served by PIM itself (no CDN), every operation with its
error shapes."""

import yaml
from django.test import Client


def test_the_schema_documents_every_operation_with_its_error_shapes(db):
    response = Client().get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    operations = [op for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert len(operations) >= 13
    for operation in operations:
        assert {"400", "401", "403", "404", "409", "429"} <= set(operation["responses"]), operation["operationId"]
    assert schema["components"]["schemas"]["FieldErrors"]["properties"]["errors"]["type"] == "object"
    assert set(schema["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}


def test_the_docs_page_loads_its_assets_from_this_site(db):
    page = Client().get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
