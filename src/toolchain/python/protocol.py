"""The worker protocol as the TypeScript side defines it (src/toolchain/protocol/*.ts, zod),
read from the JSON Schema generated from it (src/toolchain/protocol/worker-protocol.schema.json).

`Protocol.check_request(op, args)` lists what is wrong with a request before the op runs. The
validator knows the JSON Schema subset the generator emits (SUPPORTED_KEYWORDS in
src/toolchain/protocol/json-schema.ts, which refuses to write any other keyword); it needs no
package, so every env can run it. An unknown keyword here is a bug and raises.
"""

from __future__ import annotations

import json
import os
import re

SCHEMA_FILE = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "protocol", "worker-protocol.schema.json")
)

_ANNOTATIONS = {"description", "default", "$comment", "title"}
_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
    "items",
    "enum",
    "const",
    "anyOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
} | _ANNOTATIONS

_MAX_ERRORS = 10


class Protocol:
    """The ops, their request schemas and the failure codes of one schema file."""

    def __init__(self, document: dict):
        definitions = document["definitions"]
        self.ops = list(document["properties"]["op"]["enum"])
        self.requests = {name: definitions[f"{name}.request"] for name in self.ops}
        self.error_codes = frozenset(definitions["error"]["properties"]["code"]["enum"])

    @classmethod
    def load(cls, path: str = SCHEMA_FILE) -> Protocol:
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def check_request(self, op: str, args) -> list[dict]:
        """[{path, message}] for each way `args` breaks the op's request schema (at most 10)."""
        errors: list[dict] = []
        _check(self.requests[op], args, "args", errors)
        return [{"path": e["path"], "message": e["message"]} for e in errors[:_MAX_ERRORS]]


# bool before int: True is an int in Python, but a boolean in JSON.
_JSON_TYPE_NAMES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _type_name(value) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPE_NAMES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _is_type(value, name: str) -> bool:
    kind = _type_name(value)
    if name == "number":
        return kind in ("integer", "number")
    if name == "integer":
        return kind == "integer" or (kind == "number" and float(value).is_integer())
    return kind == name


def _show(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{json.dumps(key)}]"


def _kinds(schema: dict) -> set:
    """The JSON types a schema accepts, for messages."""
    if "anyOf" in schema:
        return set().union(*(_kinds(option) for option in schema["anyOf"]))
    kind = schema.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {kind}


def _check(schema: dict, value, path: str, errors: list) -> None:
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise ValueError(f"{path}: the schema uses {sorted(unknown)}, which this validator does not know")
    if len(errors) >= _MAX_ERRORS:
        return

    def fail(message: str) -> None:
        errors.append({"path": path, "message": message})

    if "anyOf" in schema:
        near = []  # branches whose type fits, with what is wrong inside them
        for option in schema["anyOf"]:
            sub: list = []
            _check(option, value, path, sub)
            if not sub:
                break
            if not all(e.get("kind") == "type" and e["path"] == path for e in sub):
                near.append(sub)
        else:
            if near:  # report the closest branch, so a near miss names its one wrong field
                errors.extend(min(near, key=len))
            else:
                kinds = " or ".join(sorted(_kinds(schema))) or "another value"
                errors.append({"path": path, "message": f"expected {kinds}, received {_show(value)}", "kind": "type"})
            return
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            message = f"expected {' or '.join(types)}, received {_type_name(value)} {_show(value)}"
            errors.append({"path": path, "message": message, "kind": "type"})
            return
    if "const" in schema and value != schema["const"]:
        errors.append(
            {"path": path, "message": f"expected {_show(schema['const'])}, received {_show(value)}", "kind": "type"}
        )
    if "enum" in schema and value not in schema["enum"]:
        fail(f"expected one of {', '.join(_show(v) for v in schema['enum'])}; received {_show(value)}")
    if _type_name(value) in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            fail(f"expected a number >= {schema['minimum']}, received {_show(value)}")
        if "maximum" in schema and value > schema["maximum"]:
            fail(f"expected a number <= {schema['maximum']}, received {_show(value)}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            fail(f"expected a number > {schema['exclusiveMinimum']}, received {_show(value)}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            fail(f"expected a number < {schema['exclusiveMaximum']}, received {_show(value)}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            fail(f"expected at least {schema['minLength']} character(s), received {_show(value)}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            fail(f"expected at most {schema['maxLength']} characters")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            fail(f"expected at least {schema['minItems']} item(s), received {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            fail(f"expected at most {schema['maxItems']} items, received {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(schema["items"], item, f"{path}[{i}]", errors)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                fail(f'missing required key "{key}"')
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _check(properties[key], item, _key_path(path, key), errors)
            elif extra is False:
                known = ", ".join(sorted(properties)) or "none"
                fail(f'unknown key "{key}" (known: {known})')
            elif isinstance(extra, dict):
                if "propertyNames" in schema:
                    _check(schema["propertyNames"], key, f"{path} key {_show(key)}", errors)
                _check(extra, item, _key_path(path, key), errors)
