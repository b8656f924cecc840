"""The OpenAPI document tells the truth about contract B (issue 4): every ``/api/``
operation with its scope, its error answers in the envelope, and its request body."""

from __future__ import annotations

from typing import Any

import httpx

from tests.application.test_scope_matrix import OPERATIONS

ENVELOPE = "#/components/schemas/ErrorEnvelope"
BODIES = {
    "POST /api/payment/checkout": (
        "PaymentCheckout",
        {"amount", "currencyCode", "reference", "referenceLabel", "clientId"},
    ),
    "POST /api/payment-applications": ("ApplicationCreate", {"name"}),
    "PATCH /api/payment-applications/{clientId}": ("ApplicationUpdate", set()),
    "POST /api/payment-applications/{clientId}/tokens": ("TokenCreate", {"label", "scopes"}),
}


def document_path(name: str) -> tuple[str, str]:
    method, path = name.split(" ", 1)
    path = (
        path.replace("{clientId}", "{client_id}")
        .replace("{tokenId}", "{token_id}")
        .replace("{id}", "{payment_id}")
    )
    return method.lower(), path


async def openapi(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


async def test_every_api_operation_states_its_scope(http_once: httpx.AsyncClient) -> None:
    document = await openapi(http_once)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for name, operation in OPERATIONS.items():
        method, path = document_path(name)
        described = document["paths"][path][method]
        assert described["security"] == [{"bearerAuth": [operation.scope]}], name
        assert f"scope `{operation.scope}`" in described["description"], name
        assert ("Access token" in described["description"]) is operation.access_token_only, name


async def test_every_api_operation_documents_its_error_answers_in_the_envelope(
    http_once: httpx.AsyncClient,
) -> None:
    document = await openapi(http_once)
    for name, operation in OPERATIONS.items():
        method, path = document_path(name)
        responses = document["paths"][path][method]["responses"]
        assert str(operation.success) in responses, name
        expected = {"401", "403", "429", "500"}
        if "{" in path:
            expected.add("404")
        if method in ("post", "patch") and name in BODIES:
            expected |= {"400", "413", "422"}
        assert expected <= set(responses), (name, sorted(responses))
        for status in expected:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ENVELOPE}, (name, status)
    instructions = document["paths"]["/api/payment/{payment_id}/instructions"]["get"]
    assert {"409", "422"} <= set(instructions["responses"])
    assert any(
        p["name"] == "method" and p["in"] == "query" and p["required"] for p in instructions["parameters"]
    )


async def test_request_bodies_are_documented_with_their_required_fields(http_once: httpx.AsyncClient) -> None:
    document = await openapi(http_once)
    schemas = document["components"]["schemas"]
    for name, (schema_name, required) in BODIES.items():
        method, path = document_path(name)
        body = document["paths"][path][method]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{schema_name}"
        }
        assert set(schemas[schema_name].get("required", [])) == required, schema_name
    checkout = schemas["PaymentCheckout"]["properties"]
    assert checkout["clientId"]["pattern"] == "^[a-z0-9]{32}$"
    assert {"redirectUrl", "expiresIn", "metadata"} <= set(checkout)
    assert "BankDetails" in schemas


async def test_list_parameters_carry_their_contract_b_names(http_once: httpx.AsyncClient) -> None:
    document = await openapi(http_once)
    parameters = {p["name"] for p in document["paths"]["/api/payments"]["get"]["parameters"]}
    assert parameters == {
        "status",
        "clientId",
        "reference",
        "createdFrom",
        "createdTo",
        "currency",
        "amountFrom",
        "amountTo",
        "q",
        "limit",
        "cursor",
    }
    exported = {p["name"] for p in document["paths"]["/api/payments/export"]["get"]["parameters"]}
    assert exported == parameters
