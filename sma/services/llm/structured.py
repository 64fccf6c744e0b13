"""Structured output: a strict JSON schema from a Pydantic model, and tolerant parsing of what comes back.

Models wrap JSON in code fences, add a sentence before it, leave a trailing comma or stop before the last
bracket. `extract_json` undoes the common damage; `parse_output` validates against the model and raises
InvalidOutput with short, correctable reasons (sent back to the model on the corrective re-ask).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sma.models.llm import Completion
from sma.services.llm.errors import InvalidOutput

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"'})


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the strict subset (OpenAI structured outputs): every property required,
    no additional properties, no defaults or titles."""
    schema = copy.deepcopy(model.model_json_schema())

    def visit(node: Any) -> None:
        """`node` is a schema; maps of names to schemas (properties, $defs) are walked, never trimmed."""
        if not isinstance(node, dict):
            return
        node.pop("default", None)
        node.pop("title", None)
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    visit(sub)
            elif isinstance(value, dict):
                visit(value)
            elif isinstance(value, list):
                for sub in value:
                    visit(sub)

    visit(schema)
    return schema


def _balance(text: str) -> str:
    """Close an unterminated string and unclosed brackets (a reply cut off at max_tokens)."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    closing = ('"' if in_string else "") + "".join(reversed(stack))
    return _TRAILING_COMMA.sub(r"\1", text.rstrip().rstrip(",") + closing)


def extract_json(text: str) -> Any:
    """The first JSON object in `text`, repaired if needed; raises InvalidOutput if there is none."""
    candidates: list[str] = []
    stripped = text.strip()
    candidates.append(stripped)
    candidates += [m.strip() for m in _FENCE.findall(text)]
    start = stripped.find("{")
    if start >= 0:
        end = stripped.rfind("}")
        candidates.append(stripped[start:end + 1] if end > start else stripped[start:])
        candidates.append(stripped[start:])
    for candidate in candidates:
        for variant in (candidate, _TRAILING_COMMA.sub(r"\1", candidate.translate(_SMART_QUOTES)),
                        _balance(candidate.translate(_SMART_QUOTES))):
            try:
                value = json.loads(variant)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    raise InvalidOutput("the reply is not a JSON object", raw=text[:2000])


def _describe(exc: ValidationError, limit: int = 8) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_output(model: type[T], completion: Completion) -> T:
    """Validate a completion (tool-call arguments or text) against `model`."""
    if completion.refusal:
        raise InvalidOutput(f"the model refused: {completion.refusal}")
    data = completion.data if completion.data is not None else extract_json(completion.text)
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), dict):
        inner = next(iter(data.values()))  # {"script": {...}}: a common wrapping
        if not set(data) & set(model.model_fields):
            data = inner
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raw = completion.text or json.dumps(data)[:2000]
        raise InvalidOutput(f"the JSON does not match the schema: {_describe(exc)}", raw=raw) from None
