"""Secrets in image metadata never reach an output in clear.

Every output shows some of an image's configuration: the layers' history lines in SBOMs,
reports and configuration evidence; its labels in SBOMs (native JSON ``source.labels``,
CycloneDX ``hullcheck:image:label:*`` properties, SPDX document annotations). These pass
through here first, between opening the image and encoding anything:

* a history line keeps its shape, each secret cut to its first characters as the secret
  scanner shows matches (``RUN TOKEN=ghp_***** make``);
* a label value is replaced whole by ``[REDACTED by hullcheck: RULE]`` when a secret rule
  matches ``KEY=VALUE`` (as the scanner reads labels), or when its key is named like a
  credential (``DB_PASSWORD``, ``ci.token``, ``apiKey``: rule ``sensitive-name``).

The environment (``Env``) is written into no SBOM or report (only the secret scanner's
findings quote it, redacted). The raw configuration stays as read, for the rooms that judge
it: the secret scanner reports these values and base identification reads base-image labels.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from hullcheck.image import Image
from hullcheck.model import ImageSource, Inventory, Layer

MARKER = "[REDACTED by hullcheck: {}]"
SENSITIVE_NAME = "sensitive-name"

# Words of a key: "AWS_SECRET_ACCESS_KEY", "ci.token", "apiKey", "APIKey" all split.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CREDENTIAL_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "token", "secret", "key", "apikey",
    "credential", "credentials", "auth",
})
# Keys naming public material: GPG_KEY (a fingerprint in the official images), PUBLIC_KEY.
_PUBLIC_WORDS = frozenset({"public", "pub", "gpg", "pgp", "fingerprint"})


def sensitive_name(key: str) -> bool:
    """Whether ``key`` is named like a credential (a word of it, any case)."""
    words = {w.lower() for w in _WORDS.findall(key)}
    return bool(words & _CREDENTIAL_WORDS) and not words & _PUBLIC_WORDS


class Redactor:
    """Redacts image metadata with the built-in secret rules (thread-safe)."""

    def __init__(self) -> None:
        # Imported here: the secrets room (and its engines) loads only when an image is read.
        from hullcheck.secrets.rules import is_placeholder
        from hullcheck.secrets.scanner import Scanner

        self._scanner = Scanner(engine="python")
        self._placeholder = is_placeholder

    def text(self, text: str) -> str:
        """A free-text line (history, evidence) with each secret in it cut short."""
        return self._scanner.redact_text(text)

    def why(self, key: str, value: str) -> str | None:
        """The rule that makes ``value`` (of label or variable ``key``) a secret, if any."""
        data = f"{key}={value}".encode("utf-8", "surrogateescape")
        start = len(key.encode("utf-8", "surrogateescape")) + 1
        for hit in self._scanner.scan_bytes(data):
            if hit.end > start:  # the secret lies (at least partly) in the value
                return hit.rule.id
        if value.strip() and sensitive_name(key) and not self._placeholder(value.strip().encode()):
            return SENSITIVE_NAME
        return None

    def value(self, key: str, value: str) -> str:
        rule = self.why(key, value)
        return value if rule is None else MARKER.format(rule)

    def labels(self, pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple((k, self.value(k, v)) for k, v in pairs)

    def source(self, source: ImageSource) -> ImageSource:
        if not source.labels:
            return source
        return dataclasses.replace(source, labels=self.labels(source.labels))

    def layers(self, layers: tuple[Layer, ...]) -> tuple[Layer, ...]:
        return tuple(dataclasses.replace(la, created_by=self.text(la.created_by))
                     if la.created_by else la for la in layers)

    def image(self, image: Image) -> Image:
        """The image with its history lines and labels redacted; its config stays raw."""
        return dataclasses.replace(image, source=self.source(image.source),
                                   layers=self.layers(image.layers))

    def inventory(self, inventory: Inventory) -> Inventory:
        """For inventories not read from an image here (an attestation's, an SBOM's)."""
        return dataclasses.replace(inventory, source=self.source(inventory.source),
                                   layers=self.layers(inventory.layers))


@functools.cache
def redactor() -> Redactor:
    """The one redactor (its rules compiled once per process)."""
    return Redactor()
