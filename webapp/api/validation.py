"""Checks request bodies and query strings against the schemas of the OpenAPI document, so the
document and the implementation cannot drift apart. The checking is `jsonschema`'s (Draft 2020-12,
the dialect of OpenAPI 3.1); what is ours is the answer: one problem per field, in the reader's
language, with the field's path ("plan.tier", "steps[2].delay").

On top of the schemas, every string of every request (and every field name) is refused when the
database cannot store it (a NUL, a lone surrogate), whatever its schema says."""
from __future__ import annotations

import json
import re

from flask_babel import lazy_gettext as _l
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..services.errors import ValidationFailed
from ..services.validation import text_problem

TYPE_NAMES = {"object": _l("an object"), "array": _l("a list"), "string": _l("a string"),
              "integer": _l("a whole number"), "number": _l("a number"), "boolean": _l("true or false"),
              "null": _l("null")}
# When one value breaks several keywords, the one a person should fix first is told.
PRIORITY = {"type": 0, "required": 1, "additionalProperties": 1, "maxProperties": 1, "enum": 2, "const": 2}


class Validator:
    """The document's components once, and a compiled jsonschema validator per schema met."""

    def __init__(self, components: dict):
        self.components = components
        self.schemas = components.get("schemas", {})
        self._compiled: dict[int, tuple[dict, Draft202012Validator]] = {}

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def _validator(self, schema: dict) -> Draft202012Validator:
        found = self._compiled.get(id(schema))
        if found is None or found[0] is not schema:
            # "#/components/schemas/X" resolves inside the one document the schema is checked in.
            root = {**schema, "components": self.components}
            Draft202012Validator.check_schema(root)
            found = self._compiled[id(schema)] = (schema, Draft202012Validator(root))
        return found[1]

    def errors(self, schema: dict, value, path: str = "") -> dict[str, str]:
        """{field path: problem} for `value` against `schema`; empty when it conforms."""
        found = _text_problems(value, path)
        for error in sorted(self._validator(schema).iter_errors(value), key=_order):
            for where, problem in _messages(error, path):
                if not any(where == known or where.startswith(known + ".") or where.startswith(known + "[")
                           for known in found):
                    found[where] = problem
        return found


def _order(error: ValidationError):
    return (len(error.absolute_path), [str(p) for p in error.absolute_path], PRIORITY.get(error.validator, 3))


def _path(base: str, parts) -> str:
    path = base
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _text_problems(value, path: str) -> dict[str, str]:
    if isinstance(value, str):
        problem = text_problem(value)
        return {path or "body": problem} if problem else {}
    found = {}
    if isinstance(value, list):
        for i, item in enumerate(value):
            found.update(_text_problems(item, f"{path}[{i}]"))
    elif isinstance(value, dict):
        for name, item in value.items():
            problem = text_problem(name)
            if problem:
                found[_join(path, name.encode("utf-8", "backslashreplace").decode())] = problem
            else:
                found.update(_text_problems(item, _join(path, name)))
    return found


def _messages(error: ValidationError, base: str) -> list[tuple[str, str]]:
    """The (path, message) pairs that say what is wrong, in words."""
    where = _path(base, error.absolute_path) or "body"
    keyword, expected, schema = error.validator, error.validator_value, error.schema
    if keyword == "anyOf":
        return _best_option(error, base) or [(where, str(_l("Has a form that is not allowed.")))]
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else expected
        return [(where, str(_l("Must be %(type)s.", type=" / ".join(str(TYPE_NAMES[t]) for t in types))))]
    if keyword in ("enum", "const"):
        values = expected if keyword == "enum" else [expected]
        return [(where, str(_l("Must be one of: %(values)s.", values=", ".join(json.dumps(v) for v in values))))]
    if keyword == "required":
        missing = [name for name in expected if isinstance(error.instance, dict) and name not in error.instance]
        return [(_path(base, [*error.absolute_path, name]), str(_l("This field is required."))) for name in missing]
    if keyword in ("additionalProperties", "maxProperties", "unevaluatedProperties"):
        known = schema.get("properties", {}) if keyword != "maxProperties" else {}
        extra = [name for name in error.instance if name not in known and not _matches_pattern(schema, name)]
        return [(_path(base, [*error.absolute_path, name]), str(_l("Unknown field."))) for name in extra]
    if keyword == "minLength":
        return [(where, str(_l("Must not be empty.")) if expected == 1
                 else str(_l("Must be at least %(n)s characters.", n=expected)))]
    if keyword == "maxLength":
        return [(where, str(_l("Must be at most %(n)s characters.", n=expected)))]
    if keyword == "pattern":
        return [(where, str(_l("Has characters or a form that is not allowed.")))]
    if keyword in ("minimum", "exclusiveMinimum"):
        return [(where, str(_l("Must be at least %(n)s.", n=expected if keyword == "minimum" else expected + 1)))]
    if keyword in ("maximum", "exclusiveMaximum"):
        return [(where, str(_l("Must be at most %(n)s.", n=expected if keyword == "maximum" else expected - 1)))]
    if keyword == "maxItems":
        return [(where, str(_l("Must have at most %(n)s items.", n=expected)))]
    if keyword == "minItems":
        return [(where, str(_l("Must have at least %(n)s items.", n=expected)))]
    if keyword == "uniqueItems":
        return [(where, str(_l("Must not list the same value twice.")))]
    return [(where, str(_l("Has a form that is not allowed.")))]


def _matches_pattern(schema: dict, name: str) -> bool:
    return any(re.search(pattern, name) for pattern in schema.get("patternProperties", {}))


def _best_option(error: ValidationError, base: str) -> list[tuple[str, str]]:
    """For a value that fits none of anyOf's options: the problems of the option it came nearest to - the
    one it is at least of the right type for, with the fewest problems."""
    by_option: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        by_option.setdefault(sub.relative_schema_path[0], []).append(sub)
    if not by_option:
        return []

    def distance(errors):
        wrong_type = any(e.validator == "type" and not e.relative_path for e in errors)
        return (wrong_type, len(errors))

    if all(distance(errors)[0] for errors in by_option.values()):  # of none of the types: name them all
        types: list[str] = []
        for sub in error.context:
            if sub.validator == "type" and not sub.relative_path:
                types += [t for t in ([sub.validator_value] if isinstance(sub.validator_value, str)
                                      else sub.validator_value) if t not in types]
        where = _path(base, error.absolute_path) or "body"
        return [(where, str(_l("Must be %(type)s.", type=" / ".join(str(TYPE_NAMES[t]) for t in types))))]
    nearest = min(by_option.values(), key=distance)
    found: list[tuple[str, str]] = []
    for sub in sorted(nearest, key=_order):
        found.extend(_messages(sub, base))
    return found


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
            value = [_coerce(validator.resolve(schema["items"]), v) for v in raw]
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
    if schema.get("type") == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw
