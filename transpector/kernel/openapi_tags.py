"""Tagged unions in the OpenAPI document say that their tag is required.

pydantic gives each member's tag (``op``, ``kind``) a default, so its JSON Schema lists the tag as
optional; yet a tagged union refuses a body without its tag (422, "Unable to extract tag using
discriminator"). Where a union is used, each member becomes ``{"allOf": [member], "required":
[tag]}``; the member's own schema is left as it is, since a route that takes that one model (``POST
/api/run`` takes ``Run``) accepts a body without the tag.
"""

from __future__ import annotations

from typing import Any


def require_union_tags(node: Any) -> None:
    """Walk an OpenAPI document (in place) and mark every discriminated union's tag required."""
    if isinstance(node, list):
        for item in node:
            require_union_tags(item)
        return
    if not isinstance(node, dict):
        return
    tag = (node.get("discriminator") or {}).get("propertyName")
    for key in ("oneOf", "anyOf"):
        if tag and isinstance(node.get(key), list):
            node[key] = [_with_tag(member, tag) for member in node[key]]
    for value in node.values():
        require_union_tags(value)


def _with_tag(member: Any, tag: str) -> Any:
    if not isinstance(member, dict):
        return member
    if "$ref" in member:
        return {"allOf": [member], "required": [tag]}
    required = member.get("required", [])
    return member if tag in required else {**member, "required": [*required, tag]}
