"""The OpenAPI document at /api/v1/openapi.json tells the truth about the API.

Every /api/v1 route is documented with each of its methods, nothing documented is
missing from the app, and real responses validate against the documented schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from service.extensions import db
from service.models import Article, Status

DOCUMENT_URI = "urn:portal-comments:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ARTICLE = "67584"
COMMENTS = f"/api/v1/articles/{ARTICLE}/comments"
COMMENTS_TEMPLATE = "/api/v1/articles/{article}/comments"

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def is_date_time(value: object) -> bool:
    """RFC 3339 date-time: a full date and time with an explicit offset."""
    if not isinstance(value, str):
        return True
    moment = datetime.fromisoformat(value)
    return "T" in value and moment.tzinfo is not None


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.is_json
    return response.get_json()


def documented_schema(
    document: dict[str, Any], path: str, method: str, status: int
) -> dict[str, Any]:
    """The JSON schema documented for one response, as a $ref into the whole document."""
    operation = document["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{method} {path} → {status} is undocumented"
    content = operation["responses"][str(status)].get("content", {})
    assert "application/json" in content, f"{method} {path} → {status} has no JSON schema"
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ["paths", path, method.lower(), "responses", str(status), "content"]
    )
    return {"$ref": f"{DOCUMENT_URI}#/{pointer}/application~1json/schema"}


def validator_for(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource(DOCUMENT_URI, resource)
    return Draft202012Validator(schema, registry=registry, format_checker=FORMATS)


def assert_documented(
    document: dict[str, Any], path: str, method: str, response: TestResponse
) -> dict[str, Any]:
    """The response's JSON, after checking it against the documented schema for its status."""
    assert response.is_json, response.get_data(as_text=True)
    schema = documented_schema(document, path, method, response.status_code)
    data = response.get_json()
    errors = sorted(validator_for(document, schema).iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return data


def flask_routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) for every url rule under /api/v1."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    return routes


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS and method not in {"head", "options"}
    }


@pytest.fixture
def post_json(client: FlaskClient, solved: Callable[[], tuple[str, str]]):
    """Post a comment with a right captcha answer."""

    def submit(**fields: Any) -> TestResponse:
        token, answer = solved()
        payload = {"author": "读者", "body": "好文章 📖", "captcha_token": token}
        payload["captcha_answer"] = answer
        return client.post(COMMENTS, json={**payload, **fields})

    return submit


# --- the document ----------------------------------------------------------------------------


def test_document_is_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert document["paths"]


def test_openapi_document_is_public_json(client):
    response = client.get("/api/v1/openapi.json", headers={"Origin": "https://www.portal.example"})

    assert response.mimetype == "application/json"
    assert response.headers.get("Access-Control-Allow-Origin") == "https://www.portal.example"
    json.loads(response.get_data(as_text=True))


def test_every_api_route_is_documented(app, document):
    undocumented = flask_routes(app) - documented_routes(document)

    assert not undocumented, f"routes missing from the OpenAPI document: {sorted(undocumented)}"


def test_every_documented_operation_exists(app, document):
    phantom = documented_routes(document) - flask_routes(app)

    assert not phantom, f"documented but not served: {sorted(phantom)}"


def test_the_route_check_sees_the_api(app):
    routes = flask_routes(app)

    assert ("/api/v1/counts", "get") in routes
    assert (COMMENTS_TEMPLATE, "post") in routes


def test_path_parameters_are_declared(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^{}]+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        for method in set(item) & HTTP_METHODS:
            operation = item[method]
            here = declared | {
                p["name"] for p in operation.get("parameters", []) if p["in"] == "path"
            }
            assert names == here, f"{method.upper()} {path}: path parameters {here} ≠ {names}"


def test_every_operation_has_an_id_and_a_success_response(document):
    ids = []
    for path, method in documented_routes(document):
        operation = document["paths"][path][method]
        ids.append(operation["operationId"])
        assert any(code.startswith("2") for code in operation["responses"]), (method, path)

    assert len(ids) == len(set(ids))


def test_every_reference_resolves(document):
    text = json.dumps(document)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))

    assert refs
    assert refs <= set(document["components"]["schemas"])


@pytest.mark.parametrize(
    "name",
    ["Error", "Counts", "CountsRequest", "Comment", "CommentPage", "NewComment", "Accepted"],
)
def test_component_schemas_are_valid_json_schemas(document, name):
    Draft202012Validator.check_schema(document["components"]["schemas"][name])


def test_documented_limits_match_the_settings(app, document):
    schemas = document["components"]["schemas"]
    new_comment = schemas["NewComment"]["properties"]

    assert new_comment["body"]["maxLength"] == app.config["COMMENT_MAX_LENGTH"]
    assert new_comment["author"]["maxLength"] == app.config["NICKNAME_MAX_LENGTH"]
    assert (
        schemas["CountsRequest"]["properties"]["articles"]["maxItems"]
        == (app.config["COUNTS_MAX_KEYS"])
    )


# --- real responses against the documented schemas ---------------------------------------------


def test_the_validator_catches_a_wrong_response(document):
    schema = documented_schema(document, "/api/v1/counts", "get", 200)
    validator = validator_for(document, schema)

    assert not validator.is_valid({"counts": {"a": "两条"}})
    assert not validator.is_valid({"total": 2})
    assert validator.is_valid({"counts": {"a": 2}})


def test_counts_get_matches_document(client, document, make_comment):
    make_comment(article="a", body="一 👍")
    make_comment(article="a", body="二", status=Status.PENDING)

    response = client.get("/api/v1/counts?article=a&article=b")

    data = assert_documented(document, "/api/v1/counts", "get", response)
    assert data == {"counts": {"a": 1, "b": 0}}


def test_counts_304_is_documented(client, document):
    first = client.get("/api/v1/counts?article=a")

    again = client.get("/api/v1/counts?article=a", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert "304" in document["paths"]["/api/v1/counts"]["get"]["responses"]


def test_counts_post_matches_document(client, document, make_comment):
    make_comment(article="a", body="评论 🎉")

    response = client.post("/api/v1/counts", json={"articles": ["a", "b"]})

    data = assert_documented(document, "/api/v1/counts", "post", response)
    assert data == {"counts": {"a": 1, "b": 0}}


def test_documented_counts_request_is_accepted(client, document):
    body = {"articles": ["67584", "zcjh.zhengwu-1"]}
    schema = {"$ref": f"{DOCUMENT_URI}#/components/schemas/CountsRequest"}
    validator_for(document, schema).validate(body)

    response = client.post("/api/v1/counts", json=body)

    assert response.status_code == 200


def test_comment_page_with_a_reply_matches_document(client, document, make_comment):
    parent = make_comment(author="老张", body="原帖 🧓")
    make_comment(author="小李", body="回复 💬", parent_id=parent)
    with client.application.app_context():
        article = db.session.execute(db.select(Article).filter_by(key=ARTICLE)).scalar_one()
        article.title = "关于进一步优化政务服务的实施意见"
        db.session.commit()

    response = client.get(COMMENTS)

    data = assert_documented(document, COMMENTS_TEMPLATE, "get", response)
    assert [c["reply_to"] is not None for c in data["comments"]] == [True, False]
    assert data["title"] == "关于进一步优化政务服务的实施意见"


def test_empty_comment_page_matches_document(client, document):
    response = client.get("/api/v1/articles/nobody_yet/comments")

    data = assert_documented(document, COMMENTS_TEMPLATE, "get", response)
    assert data["comments"] == []


def test_accepted_comment_matches_document(document, post_json):
    response = post_json(reply_to=None, title="标题 📰", url="https://www.portal.example/1.html")

    data = assert_documented(document, COMMENTS_TEMPLATE, "post", response)
    assert response.status_code == 202
    assert data["status"] == "pending"


def test_documented_new_comment_is_accepted(client, document, solved):
    token, answer = solved()
    body = {
        "author": "读者",
        "body": "按文档提交 📄",
        "reply_to": None,
        "captcha_token": token,
        "captcha_answer": answer,
        "title": "关于进一步优化政务服务的实施意见",
        "url": "https://www.portal.example/zcjh/zhengwu/67584.html",
    }
    schema = {"$ref": f"{DOCUMENT_URI}#/components/schemas/NewComment"}
    validator_for(document, schema).validate(body)

    response = client.post(COMMENTS, json=body)

    assert response.status_code == 202


ERRORS: dict[str, tuple[str, str, Callable[[FlaskClient], TestResponse]]] = {
    "400-counts-get": (
        "/api/v1/counts",
        "get",
        lambda c: c.get("/api/v1/counts?article=bad%20key"),
    ),
    "400-counts-post": (
        "/api/v1/counts",
        "post",
        lambda c: c.post("/api/v1/counts", data="[", content_type="application/json"),
    ),
    "413-counts": (
        "/api/v1/counts",
        "post",
        lambda c: c.post("/api/v1/counts", json={"articles": ["a" * 100] * 700}),
    ),
    "415-counts": (
        "/api/v1/counts",
        "post",
        lambda c: c.post("/api/v1/counts", data="{}", content_type="text/plain"),
    ),
    "400-page": (
        "/api/v1/articles/{article}/comments",
        "get",
        lambda c: c.get(COMMENTS + "?page=0"),
    ),
    "400-comment-key": (
        COMMENTS_TEMPLATE,
        "post",
        lambda c: c.post("/api/v1/articles/bad%20key/comments", json={}),
    ),
    "413-comment": (
        COMMENTS_TEMPLATE,
        "post",
        lambda c: c.post(COMMENTS, json={"body": "长" * 30_000}),
    ),
    "415-comment": (
        COMMENTS_TEMPLATE,
        "post",
        lambda c: c.post(COMMENTS, data={"body": "表单"}),
    ),
    "422-captcha": (
        COMMENTS_TEMPLATE,
        "post",
        lambda c: c.post(COMMENTS, json={"body": "好", "captcha_token": "x"}),
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_error_responses_match_document(client, document, case):
    path, method, send = ERRORS[case]
    expected_status = int(case[:3])

    response = send(client)

    assert response.status_code == expected_status
    data = assert_documented(document, path, method, response)
    assert data["error"]["code"]


def test_422_with_field_errors_matches_document(client, document, solved):
    token, _right = solved()

    response = client.post(
        COMMENTS,
        json={"body": "", "author": "长" * 40, "captcha_token": token, "captcha_answer": "WRONG"},
    )

    data = assert_documented(document, COMMENTS_TEMPLATE, "post", response)
    assert response.status_code == 422
    assert set(data["error"]["fields"]) == {"body", "author"}  # the captcha is not looked at


def test_403_closed_matches_document(app, client, document, make_comment, post_json):
    make_comment()
    with app.app_context():
        article = db.session.execute(db.select(Article).filter_by(key=ARTICLE)).scalar_one()
        article.closed = True
        db.session.commit()

    response = post_json()

    assert response.status_code == 403
    assert_documented(document, COMMENTS_TEMPLATE, "post", response)


def test_openapi_response_matches_its_own_entry(client, document):
    response = client.get("/api/v1/openapi.json")

    assert_documented(document, "/api/v1/openapi.json", "get", response)
