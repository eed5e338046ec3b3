"""Schema compatibility: an event version, once published, may only change in ways every existing
consumer survives. Consumers read events produced by newer code (live traffic) and by older code
(`krafa outbox replay`, a topic read from the beginning), so both directions count.

The reference is `libs/events/schemas-baseline/`, a frozen copy of each published version, rather
than `git show HEAD:…`: HEAD moves with every commit, so a breaking edit committed together with its
regenerated schema would compare against itself and pass. The baseline only changes when someone
deliberately publishes a new event version (copies its schema there), which a review sees.

Breaking (needs a new `.vN` type): a field removed, a field newly required (old events lack it),
a field's type, format, reference or variants changed, enum values removed, a bound tightened.
Compatible: an optional field added, enum values added, descriptions/titles/defaults changed, a
field no longer required (producers serialise every field, so old consumers still receive it; a
value that may now be null shows up as an `anyOf` change instead).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from krafa_events.schema_export import render_all

BASELINE = Path(__file__).resolve().parents[1] / "schemas-baseline"

# Keywords that decide which values are valid; a change to any of them (other than the widening
# handled below) changes what a consumer may receive.
SHAPE_KEYWORDS = ("type", "format", "const", "$ref", "pattern", "additionalProperties")
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every change from `old` to `new` that would break an existing consumer, as readable lines."""
    problems: list[str] = []
    _compare_object(old, new, "", problems)
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    for name, definition in old_defs.items():
        if name not in new_defs:
            problems.append(f"$defs/{name}: removed")
        else:
            _compare(definition, new_defs[name], f"$defs/{name}", problems)
    return problems


def _compare_object(old: dict[str, Any], new: dict[str, Any], where: str, problems: list[str]) -> None:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name, spec in old_props.items():
        if name not in new_props:
            problems.append(f"{where}{name}: field removed")
        else:
            _compare(spec, new_props[name], f"{where}{name}", problems)
    for name in sorted(new_required - old_required):
        if name in old_props:
            problems.append(f"{where}{name}: became required")
        else:
            problems.append(f"{where}{name}: required field added")


def _compare(old: dict[str, Any], new: dict[str, Any], where: str, problems: list[str]) -> None:
    for keyword in SHAPE_KEYWORDS:
        if old.get(keyword) != new.get(keyword):
            problems.append(f"{where}: {keyword} changed from {old.get(keyword)!r} to {new.get(keyword)!r}")
    if "enum" in old or "enum" in new:
        removed = [v for v in old.get("enum", []) if v not in new.get("enum", old.get("enum", []))]
        if removed or ("enum" in new and "enum" not in old):
            problems.append(f"{where}: enum values removed {removed or 'by a new enum'}")
    for keyword in LOWER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
            problems.append(f"{where}: {keyword} tightened to {new[keyword]}")
    for keyword in UPPER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
            problems.append(f"{where}: {keyword} tightened to {new[keyword]}")
    for combinator in ("anyOf", "oneOf", "allOf"):
        old_variants = [json.dumps(_shape(v), sort_keys=True) for v in old.get(combinator, [])]
        new_variants = [json.dumps(_shape(v), sort_keys=True) for v in new.get(combinator, [])]
        if sorted(old_variants) != sorted(new_variants):
            problems.append(f"{where}: {combinator} variants changed")
    if "items" in old or "items" in new:
        _compare(old.get("items", {}), new.get("items", {}), f"{where}[]", problems)
    if "properties" in old or "properties" in new:
        _compare_object(old, new, f"{where}.", problems)


def _shape(schema: Any) -> Any:
    """A schema without its documentation keywords, for comparing union variants."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("title", "description", "default", "examples")}
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    return schema


def _baseline() -> list[Path]:
    return sorted(BASELINE.glob("*.json"))


@pytest.mark.parametrize("path", _baseline(), ids=lambda p: p.stem)
def test_published_event_versions_stay_compatible(path: Path) -> None:
    current = render_all()
    assert path.name in current, f"{path.stem} was published; its model may not disappear (deprecate it instead)"
    problems = breaking_changes(json.loads(path.read_text()), json.loads(current[path.name]))
    assert not problems, f"{path.stem} changed incompatibly; add a new versioned event type instead:\n" + "\n".join(
        problems
    )


def test_every_event_version_is_in_the_baseline() -> None:
    missing = sorted(set(render_all()) - {p.name for p in _baseline()})
    assert not missing, f"copy the schemas of new event versions into {BASELINE.name}/ when publishing: {missing}"


# -- the rules themselves, on small schemas -------------------------------------------------------------

BASE: dict[str, Any] = {
    "$defs": {"Channel": {"enum": ["email", "sms"], "type": "string"}},
    "properties": {
        "claim_id": {"format": "uuid", "type": "string"},
        "amount_minor": {"minimum": 0, "type": "integer"},
        "channel": {"$ref": "#/$defs/Channel"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "lines": {"items": {"type": "string"}, "type": "array"},
    },
    "required": ["claim_id", "amount_minor", "channel"],
}


def _edit(path: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(json.dumps(BASE))
    *parents, leaf = path.split("/")
    node = schema
    for part in parents:
        node = node[part]
    if delete:
        del node[leaf]
    else:
        node[leaf] = value
    return schema


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (_edit("properties/note", delete=True), "note: field removed"),
        (_edit("required", [*BASE["required"], "note"]), "note: became required"),
        (
            _edit("properties/due", {"type": "string"}) | {"required": [*BASE["required"], "due"]},
            "due: required field added",
        ),
        (_edit("properties/amount_minor/type", "number"), "amount_minor: type changed"),
        (_edit("properties/claim_id/format", "date"), "claim_id: format changed"),
        (_edit("properties/note/anyOf", [{"type": "string"}]), "note: anyOf variants changed"),
        (_edit("properties/lines/items/type", "integer"), "lines[]: type changed"),
        (_edit("$defs/Channel/enum", ["email"]), "$defs/Channel: enum values removed ['sms']"),
        (_edit("properties/amount_minor/minimum", 1), "amount_minor: minimum tightened"),
        (_edit("$defs/Channel", delete=True), "$defs/Channel: removed"),
    ],
)
def test_breaking_changes_are_caught(changed: dict[str, Any], expected: str) -> None:
    problems = breaking_changes(BASE, changed)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "changed",
    [
        _edit("properties/reference", {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}),
        _edit("properties/lines/default", []),
        _edit("$defs/Channel/enum", ["email", "sms", "letter"]),
        _edit("properties/amount_minor/description", "now documented"),
        _edit("properties/amount_minor/minimum", delete=True),
        _edit("required", ["claim_id", "amount_minor"]),
    ],
)
def test_compatible_changes_pass(changed: dict[str, Any]) -> None:
    assert breaking_changes(BASE, changed) == []
