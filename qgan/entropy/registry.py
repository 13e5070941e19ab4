"""The entropy sources by name (what ``harvest.source`` accepts) and the error every source raises.

A light registry (no HTTP client, no numpy): :mod:`qgan.params` validates ``harvest.source``
against :data:`SOURCE_NAMES`, and :mod:`qgan.entropy.sources` looks each name's factory up
when the harvest builds its source. So only the harvest stage depends on the HTTP client.
"""
from __future__ import annotations

from qgan.core.errors import QganError

SOURCE_NAMES = ("system", "device", "file", "eaas", "anu")  # harvest.source


class SourceFailed(QganError):
    """A source gave up (a service's last retry, a device that ended, a file with too few bytes
    left); ``partial`` holds the good bytes obtained before, which the harvest still appends."""

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = partial
