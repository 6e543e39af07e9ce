"""Checks request bodies and query strings against the schemas of the OpenAPI document, so the
document and the implementation cannot drift apart. Only the JSON Schema keywords the document
uses are supported; meeting a keyword it does not know is a programming error, not a 422."""
from __future__ import annotations

import json
import re
from functools import lru_cache

from flask_babel import lazy_gettext as _l

from ..services.errors import ValidationFailed
from ..services.validation import text_problem

KNOWN = {"type", "properties", "required", "additionalProperties", "enum", "minLength", "maxLength", "pattern",
         "minimum", "maximum", "items", "maxItems", "maxProperties", "anyOf", "$ref", "description", "format",
         "default", "example", "examples", "title", "minItems"}
JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
TYPE_NAMES = {"object": _l("an object"), "array": _l("a list"), "string": _l("a string"),
              "integer": _l("a whole number"), "number": _l("a number"), "boolean": _l("true or false"),
              "null": _l("null")}


@lru_cache(maxsize=256)
def _regex(pattern: str):
    return re.compile(pattern)


class Validator:
    def __init__(self, components: dict):
        self.schemas = components.get("schemas", {})

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def errors(self, schema: dict, value, path: str = "") -> dict[str, str]:
        """{field path: problem} for `value` against `schema`; empty when it conforms."""
        schema = self.resolve(schema)
        unknown = set(schema) - KNOWN
        if unknown:
            raise RuntimeError(f"the validator does not know {sorted(unknown)}")
        where = path or "body"
        if "anyOf" in schema:
            results = [self.errors(option, value, path) for option in schema["anyOf"]]
            return {} if any(not r for r in results) else min(results, key=len)
        types = schema.get("type")
        if types is not None:
            types = [types] if isinstance(types, str) else types
            if not any(JSON_TYPES[t](value) for t in types):
                names = " / ".join(str(TYPE_NAMES[t]) for t in types)
                return {where: str(_l("Must be %(type)s.", type=names))}
        # Every string of every request, whatever its schema: nothing the database cannot store reaches
        # a service (a NUL or a lone surrogate once made a paid invoice with no account).
        if isinstance(value, str) and text_problem(value):
            return {where: text_problem(value)}
        if "enum" in schema and value not in schema["enum"]:
            shown = ", ".join(json.dumps(v) for v in schema["enum"])
            return {where: str(_l("Must be one of: %(values)s.", values=shown))}
        if isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                return {where: str(_l("Must not be empty.")) if schema["minLength"] == 1
                        else str(_l("Must be at least %(n)s characters.", n=schema["minLength"]))}
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                return {where: str(_l("Must be at most %(n)s characters.", n=schema["maxLength"]))}
            if "pattern" in schema and not _regex(schema["pattern"]).search(value):
                return {where: str(_l("Has characters or a form that is not allowed."))}
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                return {where: str(_l("Must be at least %(n)s.", n=schema["minimum"]))}
            if "maximum" in schema and value > schema["maximum"]:
                return {where: str(_l("Must be at most %(n)s.", n=schema["maximum"]))}
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                return {where: str(_l("Must have at most %(n)s items.", n=schema["maxItems"]))}
            found = {}
            for i, item in enumerate(value):
                found.update(self.errors(schema.get("items", {}), item, f"{path}[{i}]"))
            return found
        if isinstance(value, dict):
            found = {}
            properties = schema.get("properties", {})
            if "maxProperties" in schema and len(value) > schema["maxProperties"]:
                for name in value:
                    found[_join(path, name)] = str(_l("Unknown field."))
                return found
            for name in schema.get("required", []):
                if name not in value:
                    found[_join(path, name)] = str(_l("This field is required."))
            for name, item in value.items():
                if text_problem(name):
                    found[_join(path, name.encode("utf-8", "backslashreplace").decode())] = text_problem(name)
                elif name in properties:
                    found.update(self.errors(properties[name], item, _join(path, name)))
                elif schema.get("additionalProperties", True) is False:
                    found[_join(path, name)] = str(_l("Unknown field."))
            return found
        return {}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check_body(validator: Validator, schema: dict, body) -> dict:
    problems = validator.errors(schema, body)
    if problems:
        raise ValidationFailed(str(_l("The request body is not valid; see the fields.")), problems)
    return body


def check_query(validator: Validator, parameters: list[dict], args) -> dict:
    """The query string against the operation's parameters: unknown names, repeated single values,
    wrong types and values out of range are refused. Returns {name: value} with defaults filled in."""
    known = {p["name"]: p for p in parameters if p["in"] == "query"}
    problems, values = {}, {}
    for name in args:
        if name not in known:
            problems[name] = str(_l("Unknown parameter."))
    for name, param in known.items():
        schema = validator.resolve(param["schema"])
        raw = args.getlist(name)
        if not raw:
            if param.get("required"):
                problems[name] = str(_l("This parameter is required."))
            elif "default" in schema:
                values[name] = schema["default"]
            continue
        if schema.get("type") == "array":
            items = [_coerce(validator.resolve(schema["items"]), v) for v in raw]
            value = items
        elif len(raw) > 1:
            problems[name] = str(_l("Give this parameter once."))
            continue
        else:
            value = _coerce(schema, raw[0])
        found = validator.errors(schema, value, name)
        if found:
            problems.update(found)
        else:
            values[name] = value
    if problems:
        raise ValidationFailed(str(_l("The query parameters are not valid; see the fields.")), problems)
    return values


def _coerce(schema: dict, raw: str):
    """A query value as the type its schema wants (left a string when it does not read as one)."""
    if schema.get("type") == "integer" and re.fullmatch(r"-?[0-9]{1,18}", raw):
        return int(raw)
    return raw
