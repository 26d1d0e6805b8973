"""Base of every service's domain error tree. Standard library only.

Domain code raises these; the gRPC edge (``svc_kit.grpc_errors``) turns them into a status code
and a ``google.rpc.ErrorInfo`` in one place, so no servicer needs a try/except.

    Exception
     +-- DomainError        base; ``reason`` becomes ErrorInfo.reason (AIP-193)
          +-- <service>.domain.errors.*   each service's own tree, drawn in its docstring

A subclass sets ``reason`` once, as a class attribute in UPPER_SNAKE_CASE. The check happens when
the class is defined, so a bad reason fails at import time rather than in a client's error path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

# AIP-193: reason is UPPER_SNAKE_CASE, at most 63 characters, matching this expression.
_REASON_RE = re.compile(r"^[A-Z][A-Z0-9_]+[A-Z0-9]$")
_REASON_MAX_LEN = 63


@dataclass(frozen=True)
class FieldViolation:
    """One invalid request field; becomes a ``google.rpc.BadRequest.FieldViolation``."""

    field: str
    """Proto field path, for example ``transaction.entries[1].amount``."""
    description: str
    """Why the value is invalid, written for the API caller."""


class DomainError(Exception):
    """A rule of the domain refused the operation. Subclass it; never raise it bare."""

    reason: ClassVar[str] = "DOMAIN_ERROR"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not _REASON_RE.match(cls.reason) or len(cls.reason) > _REASON_MAX_LEN:
            raise TypeError(
                f"{cls.__qualname__}.reason={cls.reason!r} must be UPPER_SNAKE_CASE, "
                f"at most {_REASON_MAX_LEN} characters (AIP-193)"
            )

    def __init__(
        self,
        message: str,
        *,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message: str = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.violations: tuple[FieldViolation, ...] = tuple(violations)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"
