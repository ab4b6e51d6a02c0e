"""Identifiers, as distinct types so that a puppet id is never passed where a run id belongs."""

from typing import NewType

__all__ = ["PuppetId", "RunId", "SessionId"]

RunId = NewType("RunId", str)
PuppetId = NewType("PuppetId", str)
SessionId = NewType("SessionId", str)
