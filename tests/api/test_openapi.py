"""The OpenAPI document: valid OpenAPI 3, every /v1 route documented, bodies from the input schemas."""
from __future__ import annotations

from openapi_spec_validator import validate

from app_layer.api.openapi import OPERATIONS, documented_rules


def test_document_is_valid_and_covers_every_route(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.json
    validate(doc)
    served = documented_rules(client.application)
    assert served - set(OPERATIONS) == set(), "routes without an OpenAPI entry"
    assert set(OPERATIONS) - served == set(), "OpenAPI entries for routes that are not served"
    operations = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert len(operations) == len(served)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] != "Undocumented", (method, path)
            assert operation["responses"], (method, path)


def test_bodies_come_from_the_validating_schemas(client):
    doc = client.get("/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    post = doc["paths"]["/v1/apps/{app_id}/domains/"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DomainCreate"}
    assert schemas["DomainCreate"]["required"] == ["domain"]
    assert schemas["DomainCreate"]["properties"]["domain"]["maxLength"] == 255
    assert schemas["Register"]["properties"]["username"]["pattern"] == r"^[\w.@+-]+$"
    assert set(doc["paths"]["/v1/auth/login/"]["post"]["requestBody"]["content"]) == {
        "application/json", "application/x-www-form-urlencoded"}
    page = doc["paths"]["/v1/apps/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["properties"]["results"]["items"] == {"$ref": "#/components/schemas/App"}
    assert doc["paths"]["/v1/apps/{app_id}/"]["get"]["security"] == [{"token": []}]
    assert doc["paths"]["/v1/hooks/push/"]["post"]["security"] == [{"builder": []}]
