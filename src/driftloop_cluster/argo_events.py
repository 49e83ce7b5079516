"""What Argo Events v1.9 does with a webhook delivery, read from the RENDERED objects.

The cluster simulation has no Argo Events controller; this module is its stand-in for the
parts the drift loop relies on, each taken from the upstream source at v1.9.11:

- the webhook EventSource (``eventsources/common/webhook``, ``sources/webhook``): the
  ``Authorization: Bearer`` check against ``authSecret`` (the Secret value with one trailing
  newline trimmed), then the event data ``{"header": <request headers>, "body": <body>}``.
  Headers are Go's ``http.Header`` (canonical keys, a list of values each, no ``Host``,
  ``Authorization`` masked); the body must be JSON and is embedded compacted the way Go's
  ``json.Marshal`` compacts a ``json.RawMessage`` (no whitespace, ``<>&`` escaped);
- the Sensor's dependency filters (``sensors/dependencies/filter.go``): ``data`` filters
  (bool / number with comparators / string as regular expressions, ``and`` / ``or``),
  on gjson paths into the event data; a missing path drops the event;
- the argoWorkflow trigger's parameters (``sensors/triggers/params.go``): ``src.dataKey``
  resolves on the event data (objects and arrays as raw JSON, ``null`` as ``null``, other
  values as gjson prints them, e.g. ``0.5``), falling back to ``src.value`` when the key is
  missing, then ``dest`` sets that string in the trigger's Workflow resource.

What this does not model raises :class:`UnsupportedFeature` naming it, so a manifest change
that needs more of Argo Events fails loudly instead of being half-simulated.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MASKED_AUTH = "*** Masked Auth Secret ***"


class UnsupportedFeature(ValueError):
    """The manifests use an Argo Events feature the stand-in does not model."""


class TriggerError(ValueError):
    """The trigger could not be built from the event (Argo Events logs it and skips it)."""


@dataclass(frozen=True)
class WebhookSpec:
    """The one webhook event of an EventSource."""

    name: str
    port: int
    endpoint: str
    method: str
    auth_secret: tuple[str, str] | None
    max_payload_size: int = 1048576


def webhook_spec(event_source: dict[str, Any]) -> WebhookSpec:
    """The webhook EventSource's first (only) event."""
    hooks = (event_source.get("spec") or {}).get("webhook") or {}
    if not hooks:
        name = event_source.get("metadata", {}).get("name")
        raise UnsupportedFeature(f"EventSource {name} has no webhook events")
    name, hook = next(iter(hooks.items()))
    auth = hook.get("authSecret")
    return WebhookSpec(
        name=name,
        port=int(hook["port"]),
        endpoint=hook["endpoint"],
        method=hook.get("method", "POST"),
        auth_secret=(auth["name"], auth["key"]) if auth else None,
        max_payload_size=int(hook.get("maxPayloadSize") or 1048576),
    )


def check_auth(
    spec: WebhookSpec, headers: Mapping[str, str], secrets: Mapping[tuple[str, str], str]
) -> bool:
    """Whether the webhook lets the request through its bearer-token check."""
    if spec.auth_secret is None:
        return True
    if spec.auth_secret not in secrets:
        name, key = spec.auth_secret
        raise KeyError(f"authSecret {name}/{key} is not in the rendered Secrets")
    token = secrets[spec.auth_secret].removesuffix("\n")
    given = _header(headers, "Authorization")
    return given.startswith("Bearer ") and given.removeprefix("Bearer ") == token


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


# --- the event data ----------------------------------------------------------------------


class _Number(str):
    """A JSON number kept as its literal text (gjson prints integers as written)."""


class _Object(dict[str, Any]):
    """A JSON object as gjson reads it: a key's first value counts; ``pairs`` keeps every
    member, duplicates included, in order (Go's compaction keeps them all)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.pairs = pairs
        for key, value in pairs:
            self.setdefault(key, value)


def canonical_header_key(key: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: ``x-driftloop-signature`` ->
    ``X-Driftloop-Signature`` (keys with characters outside a token are left as they are)."""
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+", key):
        return key
    return "-".join(part[:1].upper() + part[1:].lower() for part in key.split("-"))


def event_data(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The webhook event's data, as the Sensor sees it; ValueError when the body is not JSON
    (the webhook answers 400 then, nothing is published)."""
    try:
        parsed = json.loads(body, parse_int=_Number, parse_float=_Number, object_pairs_hook=_Object)
    except ValueError as exc:
        raise ValueError(f"webhook body is not JSON: {exc}") from exc
    header: dict[str, list[str]] = {}
    for key, value in headers.items():
        canonical = canonical_header_key(key)
        if canonical == "Host":
            continue  # net/http moves it to Request.Host
        if canonical == "Authorization":
            value = MASKED_AUTH
        header.setdefault(canonical, []).append(value)
    return {"header": dict(sorted(header.items())), "body": parsed}


def go_json(value: Any) -> str:
    """Compact JSON as Go writes it: no whitespace, ``<``, ``>``, ``&`` escaped."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        pairs = value.pairs if isinstance(value, _Object) else value.items()
        return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    text = json.dumps(value, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_MISSING = object()


def _split_path(path: str) -> list[str]:
    if any(c in path for c in "*?|#@!=<>%"):
        raise UnsupportedFeature(f"gjson path {path!r}: wildcards and modifiers not modelled")
    parts, current, escaped = [], "", False
    for char in path:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def gjson_get(data: Any, path: str) -> Any:
    """The value at a gjson path (object keys, array indexes), or ``_MISSING``."""
    value = data
    for part in _split_path(path):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def gjson_string(value: Any) -> str:
    """gjson's Result.String(): strings unquoted, numbers as written (integers) or in
    shortest form, true/false, objects and arrays as raw JSON, null as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _Number):
        if re.fullmatch(r"-?[0-9]+", value):
            return str(value)
        return _go_float(float(value))
    if isinstance(value, str):
        return value
    return go_json(value)


def _go_float(number: float) -> str:
    # strconv.FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent.
    if number == int(number) and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    digits = mantissa.replace(".", "").lstrip("-")
    point = (mantissa.lstrip("-").find(".") if "." in mantissa else len(digits)) + int(exponent)
    sign = "-" if number < 0 else ""
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    return f"{sign}{digits[:point]}{'0' * (point - len(digits))}.{digits[point:]}".rstrip(".")


def _gjson_float(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):  # numbers too (_Number); gjson parses strings, 0 on error
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def _gjson_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, _Number):
        return float(value) != 0
    if isinstance(value, str):
        return value.lower() in {"1", "t", "true"}
    return False


def _go_parse_bool(text: str) -> bool:
    if text in {"1", "t", "T", "TRUE", "true", "True"}:
        return True
    if text in {"0", "f", "F", "FALSE", "false", "False"}:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {text!r}: invalid syntax")


# --- filters -----------------------------------------------------------------------------

_NUMBER_COMPARE = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "!=": lambda a, b: a != b,
    "=": lambda a, b: a == b,
    "": lambda a, b: a == b,
}


def _data_filter_passes(f: dict[str, Any], data: dict[str, Any]) -> bool:
    """One data filter; raises ValueError where Argo Events reports a filter error."""
    found = gjson_get(data, f["path"])
    if found is _MISSING:
        raise ValueError(f"data filter error: path '{f['path']}' does not exist")
    values = [str(v) for v in f.get("value") or []]
    if not values:
        raise ValueError("data filter error: no values specified")
    if f.get("template"):
        raise UnsupportedFeature(f"data filter template on {f['path']!r} is not modelled")
    kind, comparator = f.get("type"), f.get("comparator", "")
    if kind == "bool":
        return any(_go_parse_bool(v) == _gjson_bool(found) for v in values)
    if kind == "number":
        if comparator not in _NUMBER_COMPARE:
            return False  # upstream: an unknown comparator never matches
        event_value = _gjson_float(found)
        return any(_NUMBER_COMPARE[comparator](event_value, float(v)) for v in values)
    if kind == "string":
        text = gjson_string(found)
        if comparator in {"", "="}:
            return any(re.search(v, text) for v in values)
        if comparator == "!=":
            return any(not re.search(v, text) for v in values)
        return False
    raise ValueError(f"data filter error: unsupported JSON type '{kind}'")


def _data_filters_pass(filters: list[dict[str, Any]], operator: str, data: dict[str, Any]) -> bool:
    if not filters:
        return True
    if operator == "or":
        for f in filters:
            try:
                if _data_filter_passes(f, data):
                    return True
            except UnsupportedFeature:
                raise
            except ValueError:
                continue
        return False
    try:
        return all(_data_filter_passes(f, data) for f in filters)
    except UnsupportedFeature:
        raise
    except ValueError:
        return False  # a filter error drops the event


def dependency_passes(dependency: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether an event passes a Sensor dependency's filters."""
    if dependency.get("transform"):
        raise UnsupportedFeature(f"dependency {dependency['name']}: transform is not modelled")
    filters = dependency.get("filters") or {}
    unmodelled = sorted(set(filters) - {"data", "dataLogicalOperator"})
    if unmodelled:
        raise UnsupportedFeature(
            f"dependency {dependency['name']}: filters {unmodelled} are not modelled"
        )
    operator = filters.get("dataLogicalOperator") or "and"
    return _data_filters_pass(filters.get("data") or [], operator, data)


# --- the trigger -------------------------------------------------------------------------


def _argo_workflow_trigger(sensor: dict[str, Any]) -> dict[str, Any]:
    triggers = (sensor.get("spec") or {}).get("triggers") or []
    found = [t["template"]["argoWorkflow"] for t in triggers if "argoWorkflow" in t["template"]]
    if len(found) != 1:
        name = sensor.get("metadata", {}).get("name")
        raise UnsupportedFeature(f"Sensor {name}: expected one argoWorkflow trigger")
    return found[0]


def sensor_trigger(sensor: dict[str, Any]) -> dict[str, Any]:
    """A copy of the trigger's Workflow resource (workflowTemplateRef, generateName, ...)."""
    trigger = _argo_workflow_trigger(sensor)
    if trigger.get("operation", "submit") != "submit":
        raise UnsupportedFeature(f"argoWorkflow operation {trigger['operation']!r}")
    return copy.deepcopy(trigger["source"]["resource"])


def _resolve(src: dict[str, Any], data: dict[str, Any]) -> tuple[str, bool]:
    """A parameter's value, and whether it is a JSON block (object/array)."""
    default = src.get("value")
    if src.get("contextKey") or src.get("contextTemplate") or src.get("dataTemplate"):
        raise UnsupportedFeature(f"parameter source {sorted(src)}: templates/context")
    key = src.get("dataKey")
    if not key:
        if default is not None:
            return str(default), False
        raise UnsupportedFeature("parameter without dataKey or value (whole event)")
    found = gjson_get(data, key)
    if found is _MISSING:
        if default is None:
            raise TriggerError(f"unable to resolve parameter: key {key} not in the event")
        return str(default), False
    if found is None:
        return "null", False
    return gjson_string(found), isinstance(found, dict | list)


def _set_path(obj: Any, dest: str, value: Any) -> None:
    parts = dest.split(".")
    for part in parts[:-1]:
        obj = obj[int(part)] if isinstance(obj, list) else obj.setdefault(part, {})
    last = parts[-1]
    if isinstance(obj, list):
        obj[int(last)] = value
    else:
        obj[last] = value


def _get_path(obj: Any, dest: str) -> Any:
    try:
        for part in dest.split("."):
            obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    except (KeyError, IndexError, ValueError, TypeError):
        return _MISSING
    return obj


def sensor_parameters(
    sensor: dict[str, Any], headers: Mapping[str, str], body: bytes
) -> dict[str, str] | None:
    """The Workflow parameters the Sensor submits for one webhook delivery, by name, or None
    when a dependency filter drops the event. Parameters the trigger's resource does not
    list are absent: the WorkflowTemplate's defaults apply to those."""
    dependencies = (sensor.get("spec") or {}).get("dependencies") or []
    if len(dependencies) != 1:
        raise UnsupportedFeature("the stand-in models a Sensor with exactly one dependency")
    data = event_data(headers, body)
    if not dependency_passes(dependencies[0], data):
        return None
    resource = sensor_trigger(sensor)
    for param in _argo_workflow_trigger(sensor).get("parameters") or []:
        value, is_block = _resolve(param["src"], data)
        operation = param.get("operation") or "overwrite"
        current = _get_path(resource, param["dest"])
        if operation in {"append", "prepend"} and current is not _MISSING:
            is_block = False
            value = str(current) + value if operation == "append" else value + str(current)
        elif operation not in {"overwrite", "append", "prepend"}:
            raise TriggerError(f"unsupported trigger parameter operation: {operation}")
        raw = is_block and param["src"].get("useRawData")
        _set_path(resource, param["dest"], json.loads(value) if raw else value)
    listed = ((resource.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    return {p["name"]: str(p.get("value", "")) for p in listed}
