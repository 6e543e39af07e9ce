"""The API documentation page, drawn from the served OpenAPI document: every operation with its
parameters, body and answers, and every schema as a table. Nothing is written by hand twice."""
from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Row:
    name: str
    type: str
    required: bool
    description: str = ""
    ref: str | None = None


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    parameters: list[Row]
    body: str | None
    body_required: bool
    responses: list[tuple[str, str, str | None]]  # status, description, schema name


@dataclass
class Schema:
    name: str
    rows: list[Row]
    note: str = ""


@dataclass
class Docs:
    title: str
    version: str
    description: str
    groups: list[tuple[str, list[Operation]]]
    schemas: list[Schema] = field(default_factory=list)


def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[1] if ref else None


def describe(schema: dict) -> tuple[str, str | None]:
    """A short type for people ("integer or null", "list of Account") and the schema it links to."""
    name = _ref_name(schema)
    if name:
        return name, name
    if "anyOf" in schema:
        parts = [describe(s) for s in schema["anyOf"]]
        return " or ".join(p[0] for p in parts), next((p[1] for p in parts if p[1]), None)
    types = schema.get("type", "any")
    types = [types] if isinstance(types, str) else list(types)
    text = []
    link = None
    for t in types:
        if t == "array":
            item, link = describe(schema.get("items", {}))
            text.append(f"list of {item}")
        elif t == "string" and schema.get("format"):
            text.append(f"string ({schema['format']})")
        else:
            text.append(t)
    out = " or ".join(text)
    if "enum" in schema:
        out += ": " + ", ".join(json.dumps(v) for v in schema["enum"])
    limits = [f"{k} {schema[k]}" for k in ("minimum", "maximum", "minLength", "maxLength", "maxItems") if k in schema]
    if "default" in schema:
        limits.append(f"default {json.dumps(schema['default'])}")
    if schema.get("items", {}).get("enum"):
        limits.append("each one of " + ", ".join(json.dumps(v) for v in schema["items"]["enum"]))
    if limits:
        out += f" ({', '.join(limits)})"
    return out, link


def _rows(schema: dict) -> list[Row]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        text, link = describe(prop)
        rows.append(Row(name, text, name in required, prop.get("description", ""), link))
    return rows


def present(document: dict) -> Docs:
    prefix = document["servers"][0]["url"]
    groups: dict[str, list[Operation]] = {t["name"]: [] for t in document.get("tags", [])}
    for path, item in document["paths"].items():
        for method, op in item.items():
            params = []
            for p in op.get("parameters", []):
                text, link = describe(p["schema"])
                params.append(Row(f"{p['name']} ({p['in']})", text, p.get("required", False),
                                  p.get("description", ""), link))
            body = op.get("requestBody")
            body_schema = _ref_name(body["content"]["application/json"]["schema"]) if body else None
            responses = []
            for status, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                responses.append((status, response["description"], _ref_name(schema)))
            groups.setdefault(op["tags"][0], []).append(Operation(
                method.upper(), prefix + path, op["operationId"], op["summary"], op.get("description", ""), params,
                body_schema, bool(body and body.get("required")), responses))
    schemas = []
    for name, schema in document["components"]["schemas"].items():
        note = ""
        if schema.get("additionalProperties") is False:
            note = "Unknown fields are refused." if schema.get("properties") else "Send {} or no body."
        schemas.append(Schema(name, _rows(schema), note))
    info = document["info"]
    return Docs(info["title"], info["version"], info.get("description", ""),
                [(name, ops) for name, ops in groups.items() if ops], schemas)
