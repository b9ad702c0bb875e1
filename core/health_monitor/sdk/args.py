"""Argument types agent tools share: strict, bounded, described. A plugin builds its tool's
pydantic argument model from these, so every toolkit validates the same way.

Identifiers are checked against a pattern before any lookup (no quotes, no spaces, no SQL
fragments get through), dates are ``YYYY-MM-DD`` only, limits are bounded integers.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, ValidationError, WithJsonSchema

MAX_LIMIT = 100


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(f"use a date as YYYY-MM-DD text, got {str(value)[:40]!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a real date: {value!r}") from None


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _DATE.pattern}),
]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:@+-]{1,128}$")]
NumericId = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]
TableName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,128}(\.[A-Za-z0-9_]{1,128}){2}$")]
Limit = Annotated[StrictInt, Field(ge=1, le=MAX_LIMIT)]


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown arguments are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# pydantic's words for the commonest refusals, as a client should read them
_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_pattern_mismatch": "has characters outside [A-Za-z0-9_.:@+-] or is too long",
    "model_type": "the body must be a JSON object",  # pydantic's own JSON parser read the body
}


def problems(error: ValidationError, args: type[BaseModel], taker: str) -> list[tuple[str | None, str]]:
    """What is wrong with the arguments that ``args`` (a :class:`ToolArgs`) refused, as
    ``(field or None, words)`` per problem (at most five): the one wording of tools and
    endpoints; ``taker`` names what takes the arguments (``"this endpoint"``)."""
    out = []
    for found in error.errors()[:5]:
        field = ".".join(str(p) for p in found["loc"]) or None
        why = _MESSAGES.get(found["type"], found["msg"].removeprefix("Value error, "))
        if found["type"] == "extra_forbidden":
            why = f"unknown field {field!r}; {taker} takes {sorted(args.model_fields)}"
        elif field is not None:
            why = f"field {field!r} {why}"
        out.append((field, why))
    return out


def workspace_field(
    required: bool = True,
) -> Any:  # a pydantic FieldInfo, typed Any by pydantic so it fits any field
    return Field(
        ... if required else None,
        description="Databricks workspace ID, digits only (e.g. '1234567890123456'); "
        "list valid ones with the domain's list tool.",
    )


def limit_field(default: int = 10) -> Any:  # a pydantic FieldInfo, typed Any by pydantic so it fits any field
    return Field(default, description=f"How many rows to return at most, 1 to {MAX_LIMIT}.")


def start_field() -> Any:  # a pydantic FieldInfo, typed Any by pydantic so it fits any field
    return Field(None, description="First day to include, YYYY-MM-DD. Default: the latest scored day.")


def end_field() -> Any:  # a pydantic FieldInfo, typed Any by pydantic so it fits any field
    return Field(None, description="Last day to include, YYYY-MM-DD. Default: same as start.")
