"""The one validation error of the contract: which field is wrong, and why, in a sentence."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

DOCUMENT = "document"
"""Field name used when the document as a whole is refused (not XML, DOCTYPE, too large...)."""


class Problem(BaseModel):
    """One thing wrong with a message: the field path, a machine-readable code and a sentence."""

    model_config = ConfigDict(frozen=True)

    field: str
    code: str
    message: str


Action = Literal["repaired", "dropped", "noted"]
"""What was done about a defect: repaired, the part carrying it left out, or only noted (the
alert is as sent; the network could not use that part, e.g. a reference to a message it
never received)."""


class IngestWarning(Problem):
    """A defect of a document from outside the network that did not refuse it: what was wrong
    (field, code, sentence, as a refusal would say) and whether it was repaired or the part
    carrying it was dropped."""

    action: Action


class CapValidationError(ValueError):
    """A CAP alert (or another contract message) was refused; `problems` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("a CapValidationError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(str(self))

    @classmethod
    def single(cls, field: str, code: str, message: str) -> CapValidationError:
        """An error with exactly one problem."""
        return cls([Problem(field=field, code=code, message=message)])

    @classmethod
    def from_pydantic(cls, exc: ValidationError, *, tagged: bool = False) -> CapValidationError:
        """Translate pydantic's errors into problems named by CAP field paths.

        With `tagged`, the errors come from a union told apart by its `type` field, whose
        value pydantic puts first in each path; it is left out of the field names.
        """
        errors = exc.errors(include_url=False)
        if tagged:
            for error in errors:
                tag_problem = error["type"].startswith("union_tag")
                error["loc"] = ("type",) if tag_problem else error["loc"][1:]
        return cls([problem_from_error(error) for error in errors])

    @property
    def field(self) -> str:
        """Path of the first offending field, e.g. `info[1].area[0].polygon[0]`."""
        return self.problems[0].field

    @property
    def code(self) -> str:
        """Machine-readable code of the first problem."""
        return self.problems[0].code

    @property
    def message(self) -> str:
        """The sentence describing the first problem."""
        return self.problems[0].message

    def __str__(self) -> str:
        return "; ".join(f"{p.field}: {p.message}" for p in self.problems)


def field_path(loc: Sequence[int | str]) -> str:
    """Render a pydantic location as a CAP path: ('info', 1, 'area', 0) -> 'info[1].area[0]'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or DOCUMENT


def _element_name(loc: Sequence[int | str]) -> str:
    names = [part for part in loc if isinstance(part, str)]
    return names[-1] if names else "the document"


_CODES = {
    "missing": "missing",
    "extra_forbidden": "unknown_element",
    "enum": "invalid_enum",
    "literal_error": "invalid_enum",
    "too_short": "too_few",
    "int_parsing": "invalid_number",
    "int_type": "invalid_number",
    "int_from_float": "invalid_number",
    "float_parsing": "invalid_number",
    "float_type": "invalid_number",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
}


def problem_from_error(error: ErrorDetails) -> Problem:
    """One pydantic error as a Problem: its CAP-style field path, a code and a sentence."""
    loc = error["loc"]
    name = _element_name(loc)
    kind = error["type"]
    given = shown(error.get("input"))
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing" and error["msg"] == "Field required":
        message = f"{name} is required but missing."
    elif kind == "extra_forbidden":
        message = f"{name} is not a CAP 1.2 element at this place."
    elif kind in ("enum", "literal_error"):
        expected = re.sub(r"'([^']*)'", r"\1", str(ctx.get("expected", "")))
        message = f"{name} must be one of {expected}; got {given}."
    elif kind == "too_short":
        message = f"{name} needs at least one value."
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        message = f"{name} must be a whole number; got {given}."
    elif kind in ("float_parsing", "float_type"):
        message = f"{name} must be a decimal number; got {given}."
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    elif error["msg"][:1].islower():
        # The contract's own rules are worded as predicates ("must be closed..."), so the
        # element's name completes the sentence.
        message = f"{name} {error['msg']}"
    else:
        message = f"{name}: {error['msg']}"
    return Problem(field=field_path(loc), code=_CODES.get(kind, kind), message=message)


def shown(value: Any) -> str:
    """A value as it is written in a problem's sentence: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
