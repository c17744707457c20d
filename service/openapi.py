"""The OpenAPI 3.1 document of the public API.

``tests/test_openapi.py`` keeps it true: every /api/v1 route is documented,
every documented path exists, and real responses validate against these schemas.
"""

from __future__ import annotations

from typing import Any

ARTICLE_KEY = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_.\\-]{1,128}$",
    "minLength": 1,
    "maxLength": 128,
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ARTICLE_PARAM = {
    "name": "article",
    "in": "path",
    "required": True,
    "description": "The portal's article key.",
    "schema": ARTICLE_KEY,
}

IDENTITY = {
    "type": "string",
    "maxLength": 4096,
    "description": (
        "The portal's signed identity of the reader: a JWT (HS256 with "
        "COMMENTS_IDENTITY_SECRET) with the claims sub, name and exp."
    ),
}

COMMENT_ID_PARAM = {
    "name": "comment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "examples": ["captcha_invalid"]},
                    "message": {"type": "string"},
                    "current_status": {
                        "type": "string",
                        "description": "With status_changed: the comment's status now.",
                    },
                    "fields": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
    "Counts": {
        "type": "object",
        "required": ["counts"],
        "properties": {
            "counts": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
            }
        },
    },
    "CountsRequest": {
        "type": "object",
        "required": ["articles"],
        "properties": {"articles": {"type": "array", "maxItems": 200, "items": ARTICLE_KEY}},
    },
    "Comment": {
        "type": "object",
        "required": ["id", "author", "body", "created_at", "likes", "reply_to"],
        "properties": {
            "id": {"type": "integer"},
            "author": {"type": "string"},
            "body": {"type": "string", "description": "Plain text as typed: escape it."},
            "created_at": {"type": "string", "format": "date-time"},
            "likes": {"type": "integer", "minimum": 0},
            "region": {
                "type": ["string", "null"],
                "description": (
                    "IP 属地 at submission: a province (广东), 中国香港/中国澳门/中国台湾, or "
                    "海外; null when unknown or hidden (COMMENTS_SHOW_REGION=false)."
                ),
            },
            "reply_to": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["id", "author", "body"],
                        "properties": {
                            "id": {"type": "integer"},
                            "author": {"type": "string"},
                            "body": {"type": "string"},
                        },
                    },
                ]
            },
        },
    },
    "CommentPage": {
        "type": "object",
        "required": ["article", "total", "page", "pages", "per_page", "closed", "comments"],
        "properties": {
            "article": ARTICLE_KEY,
            "title": {"type": ["string", "null"]},
            "closed": {"type": "boolean"},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "pages": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
            "comments": {"type": "array", "items": _ref("Comment")},
        },
    },
    "NewComment": {
        "type": "object",
        "required": ["body", "captcha_token", "captcha_answer"],
        "properties": {
            "author": {"type": "string", "maxLength": 32, "description": "Empty: 网友."},
            "body": {"type": "string", "minLength": 1, "maxLength": 1000},
            "reply_to": {"type": ["integer", "null"], "description": "An approved comment."},
            "captcha_token": {"type": "string"},
            "captcha_answer": {"type": "string"},
            "proof_of_work": {
                "type": "string",
                "maxLength": 2000,
                "description": "Only while the site is under attack: the base64 ALTCHA "
                "solution of the challenge that came with the captcha (or with the 422 "
                "proof_of_work_required answer).",
            },
            "title": {"type": "string", "maxLength": 200},
            "url": {"type": "string", "format": "uri", "description": "On an allowed origin."},
            "identity": IDENTITY,
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "status", "owner_key"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["pending", "approved"]},
            "owner_key": {
                "type": "string",
                "description": "Secret for this browser: see the comment's state, withdraw it.",
            },
        },
    },
    "OwnRequest": {
        "type": "object",
        "description": "comments may be left out when identity is given.",
        "properties": {
            "identity": {
                **IDENTITY,
                "description": (
                    "The portal's signed identity: adds this user's comments on the article "
                    "that await review, sent from any device (with their text)."
                ),
            },
            "comments": {
                "type": "array",
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "required": ["id", "key"],
                    "properties": {"id": {"type": "integer"}, "key": {"type": "string"}},
                },
            },
        },
    },
    "OwnState": {
        "type": "object",
        "required": ["comments"],
        "properties": {
            "comments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string", "enum": ["pending", "approved", "removed"]},
                        "author": {"type": "string", "description": "Found by identity only."},
                        "body": {"type": "string", "description": "Found by identity only."},
                        "created_at": {"type": "string", "format": "date-time"},
                        "reply_to": {"type": ["integer", "null"]},
                    },
                },
            }
        },
    },
    "Liked": {
        "type": "object",
        "required": ["id", "likes", "liked"],
        "properties": {
            "id": {"type": "integer"},
            "likes": {"type": "integer", "minimum": 0},
            "liked": {
                "type": "boolean",
                "description": (
                    "false: not counted (this reader had liked it, or enough readers "
                    "from this address had)."
                ),
            },
        },
    },
    "Withdrawn": {
        "type": "object",
        "required": ["id", "deleted"],
        "properties": {"id": {"type": "integer"}, "deleted": {"type": "boolean"}},
    },
}

SCHEMAS["ModComment"] = {
    "type": "object",
    "required": ["id", "article", "author", "body", "status", "deleted", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "article": ARTICLE_KEY,
        "article_title": {"type": ["string", "null"]},
        "article_url": {"type": ["string", "null"]},
        "author": {"type": "string"},
        "body": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected", "spam"]},
        "deleted": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "reply_to": {"type": ["integer", "null"]},
        "remote_addr": {"type": ["string", "null"]},
        "region": {"type": ["string", "null"], "description": "IP 属地 at submission."},
        "author_identity": {
            "type": ["string", "null"],
            "description": "The portal user id (sub) of a signed identity.",
        },
        "author_identity_name": {
            "type": ["string", "null"],
            "description": "The display name (name) the portal signed with it.",
        },
        "user_agent": {"type": ["string", "null"]},
        "triage_reason": {"type": ["string", "null"]},
        "open_reports": {"type": "integer"},
        "ip_history": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}
SCHEMAS["ModQueue"] = {
    "type": "object",
    "required": ["status", "total", "page", "pages", "counts", "comments"],
    "properties": {
        "status": {"type": "string"},
        "total": {"type": "integer"},
        "page": {"type": "integer"},
        "pages": {"type": "integer"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "comments": {"type": "array", "items": {"$ref": "#/components/schemas/ModComment"}},
    },
}
SCHEMAS["ModResult"] = {
    "type": "object",
    "required": ["id", "status", "deleted"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected", "spam"]},
        "deleted": {"type": "boolean"},
    },
}
QUEUES = ["pending", "reported", "approved", "rejected", "spam", "deleted"]
ACTIONS = ["approve", "reject", "spam", "delete", "restore"]

IDENTITY_ERROR = _error(
    "identity_invalid (bad signature, algorithm or claims), identity_expired (past exp), "
    "or identity_required (COMMENTS_REQUIRE_IDENTITY and none sent)."
)

COMMON_ERRORS = {
    "400": _error("Malformed request or invalid article key."),
    "429": _error("Rate limited; see Retry-After."),
}


def openapi_document() -> dict[str, Any]:
    """The whole public API as an OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Portal comments API",
            "version": "1.0.0",
            "description": (
                "Public API of the comment service: comment counts for listing pages, "
                "approved comments of an article, and comment submission (pre-moderated). "
                'Errors always have the shape {"error": {"code", "message", "fields"}}.'
            ),
        },
        "paths": {
            "/api/v1/counts": {
                "get": {
                    "summary": "Approved-comment counts of up to 200 articles",
                    "operationId": "getCounts",
                    "parameters": [
                        {
                            "name": "article",
                            "in": "query",
                            "required": False,
                            "style": "form",
                            "explode": True,
                            "schema": {"type": "array", "maxItems": 200, "items": ARTICLE_KEY},
                        }
                    ],
                    "responses": {
                        "200": _json("Counts by key; unknown articles count 0.", _ref("Counts")),
                        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                        **COMMON_ERRORS,
                    },
                },
                "post": {
                    "summary": "The same counts for a long list of keys",
                    "operationId": "postCounts",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CountsRequest")}},
                    },
                    "responses": {
                        "200": _json("Counts by key.", _ref("Counts")),
                        **COMMON_ERRORS,
                        "413": _error("Body over the size limit."),
                        "415": _error("Not application/json."),
                    },
                },
            },
            "/api/v1/counts.html": {
                "get": {
                    "summary": "One article's count as an HTML fragment (server-side includes)",
                    "description": (
                        "For portals that render counts without JavaScript (PHP, SSI): "
                        '<span class="comment-count" data-comment-count="KEY">N</span>.'
                    ),
                    "operationId": "getCountFragment",
                    "parameters": [
                        {
                            "name": "article",
                            "in": "query",
                            "required": True,
                            "schema": ARTICLE_KEY,
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The approved-comment count in a span.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                        **COMMON_ERRORS,
                    },
                },
            },
            "/api/v1/articles/{article}/comments": {
                "parameters": [ARTICLE_PARAM],
                "get": {
                    "summary": "Approved comments of an article, newest first",
                    "operationId": "listComments",
                    "parameters": [
                        {
                            "name": "page",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100000},
                        },
                        {
                            "name": "sort",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["newest", "popular"]},
                        },
                    ],
                    "responses": {
                        "200": _json("One page of comments.", _ref("CommentPage")),
                        **COMMON_ERRORS,
                    },
                },
                "post": {
                    "summary": "Submit a comment (held for moderation)",
                    "operationId": "postComment",
                    "description": (
                        "Get a captcha from GET /captcha first. The fields are checked first: "
                        "when they are invalid the answer is 422 with every field error and "
                        "the captcha is not looked at (it stays usable, and the attempt does "
                        "not count against the posting limit). Otherwise the token is spent "
                        "by this request whatever its outcome."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewComment")}},
                    },
                    "responses": {
                        "202": _json("Accepted and waiting for a moderator.", _ref("Accepted")),
                        **COMMON_ERRORS,
                        "401": IDENTITY_ERROR,
                        "403": _error(
                            "comments_closed: comments are closed for this article; "
                            "forbidden: the sender may not comment now."
                        ),
                        "413": _error("Body over the size limit."),
                        "415": _error("Not application/json."),
                        "422": _error(
                            "validation_failed: invalid fields (all at once, captcha untouched); "
                            "captcha_invalid / captcha_expired once the fields are right; "
                            "or comment_rejected (a banned word; kept for moderators)."
                        ),
                    },
                },
            },
            "/api/v1/articles/{article}/comments/own": {
                "parameters": [ARTICLE_PARAM],
                "post": {
                    "summary": "The state of the caller's own comments (by their owner keys)",
                    "operationId": "ownComments",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("OwnRequest")}},
                    },
                    "responses": {
                        "200": _json("Known comments and their state.", _ref("OwnState")),
                        **COMMON_ERRORS,
                        "401": _error("identity_invalid or identity_expired."),
                        "415": _error("Not application/json."),
                    },
                },
            },
            "/api/v1/articles/{article}/comments/{comment_id}": {
                "parameters": [ARTICLE_PARAM, COMMENT_ID_PARAM],
                "delete": {
                    "summary": "Withdraw one's own comment while it awaits review",
                    "operationId": "withdrawComment",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["key"],
                                    "properties": {"key": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("Withdrawn.", _ref("Withdrawn")),
                        **COMMON_ERRORS,
                        "404": _error("No such comment, or the key does not match."),
                        "409": _error("The comment is no longer awaiting review."),
                        "415": _error("Not application/json."),
                    },
                },
            },
            "/api/v1/articles/{article}/comments/{comment_id}/like": {
                "parameters": [ARTICLE_PARAM, COMMENT_ID_PARAM],
                "post": {
                    "summary": "Like (赞) a published comment, once per reader",
                    "operationId": "likeComment",
                    "description": (
                        "Counts once per reader (the reader cookie) and at most LIKE_PER_IP "
                        "times per client address on the comment in LIKE_IP_WINDOW_HOURS. "
                        "Only as application/json, so that another origin's page needs a CORS "
                        "preflight (answered for ALLOWED_ORIGINS only); a request whose "
                        "Origin is not allowed is refused."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": _json("The comment's likes now.", _ref("Liked")),
                        **COMMON_ERRORS,
                        "403": _error("cross_site_request: the Origin is not an allowed one."),
                        "404": _error("No such published comment."),
                        "415": _error("Not application/json."),
                    },
                },
            },
            "/api/v1/mod/comments": {
                "get": {
                    "summary": "A moderation queue (moderators' API token)",
                    "operationId": "modListComments",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": QUEUES, "default": "pending"},
                        },
                        {"name": "article", "in": "query", "schema": ARTICLE_KEY},
                        {"name": "ip", "in": "query", "schema": {"type": "string"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100000},
                        },
                    ],
                    "responses": {
                        "200": _json("One page of the queue, with IPs.", _ref("ModQueue")),
                        "400": _error("Unknown status or bad page."),
                        "401": _error("Missing, unknown or revoked token."),
                    },
                }
            },
            "/api/v1/mod/comments/{comment_id}/{action}": {
                "parameters": [
                    {
                        "name": "comment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ACTIONS},
                    },
                ],
                "post": {
                    "summary": "Approve, reject, mark as spam, delete or restore a comment",
                    "operationId": "modAct",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "reason": {"type": "string"},
                                        "expected_status": {
                                            "type": "string",
                                            "enum": [
                                                "pending",
                                                "approved",
                                                "rejected",
                                                "spam",
                                                "deleted",
                                            ],
                                            "description": (
                                                "The status the moderator saw; if the comment "
                                                "has moved on, 409 status_changed."
                                            ),
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("The comment's new state.", _ref("ModResult")),
                        "400": _error("The body is not a JSON object."),
                        "401": _error("Missing, unknown or revoked token."),
                        "404": _error("No such comment or action."),
                        "409": _error(
                            "invalid_transition: the action does not apply to the comment's "
                            "status; status_changed: it is no longer in expected_status (the "
                            "error's current_status says where it is)."
                        ),
                        "413": _error("Body over the size limit."),
                        "415": _error("Not application/json."),
                    },
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "getOpenApi",
                    "responses": {"200": _json("OpenAPI 3.1 document.", {"type": "object"})},
                }
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A moderator's API token (dashboard or CLI).",
                }
            },
        },
    }
