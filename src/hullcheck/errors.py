"""The one exception tree of hullcheck.

Every error a user can cause or meet is a ``HullcheckError``; the CLI prints
``str(error)`` (one line: what failed and where) and ``error.hint`` (how to fix
it), and exits with ``error.exit_code``. Anything else escaping is a bug.

    HullcheckError                      exit 2 unless stated
    ├── UsageError                      bad arguments or options
    ├── InputError                      a file or document we were given is unusable
    │   ├── ImageError                  an image cannot be read
    │   │   ├── ReferenceError_         an image reference cannot be parsed
    │   │   ├── BlobNotFound            a manifest/config/layer blob is missing
    │   │   ├── DigestMismatch          a blob's bytes do not hash to its digest
    │   │   ├── UnsafeLayer             a layer entry escapes the root, a bomb, a hostile tar
    │   │   └── UnsupportedMediaType    a manifest or layer type we cannot read
    │   └── FormatError                 an SBOM, advisory, policy... file is malformed
    ├── RegistryError                   talking to an OCI registry failed (it answered badly)
    │   ├── AuthError                   credentials missing or refused
    │   ├── NotFound                    the registry says the repository/tag/blob is unknown
    │   └── Unreachable                 no answer: connection refused, DNS failure, network timeout
    ├── DeadlineExceeded                the command's --timeout (or a review's deadline) ran out
    ├── DatabaseError                   the advisory database is missing, corrupt or too new
    └── VerificationError               a signature or attestation did not verify   exit 1

Exit codes of the CLI: 0 clean; 1 findings at or over --fail-on, policy failed, not verified;
2 a ``HullcheckError`` (usage, input, registry, database); 3 an internal error (any other
exception: a bug, reported in one line; ``--debug`` prints the traceback); 130 interrupted.
"""

from __future__ import annotations

import re

INTERNAL_ERROR_EXIT = 3

# C0 and C1 control characters and DEL: a hostile server's error body must not reach the
# terminal as escape sequences (ANSI colours, OSC 8 links, title changes, clearing).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN`` (newlines and tabs kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class HullcheckError(Exception):
    """Base of every expected failure. ``hint`` says how to fix it."""

    exit_code: int = 2
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # One line: newlines in messages (e.g. from server bodies) are folded, and control
        # characters escaped, whatever the message quotes.
        super().__init__(" ".join(printable(message).split()))
        self.hint = printable(hint if hint is not None else self.default_hint)


class UsageError(HullcheckError):
    default_hint = "run 'hullcheck --help' for usage"


class InputError(HullcheckError):
    pass


class ImageError(InputError):
    default_hint = "the image is malformed or incomplete; re-export or re-pull it"


class ReferenceError_(ImageError):
    default_hint = "use NAME[:TAG][@sha256:DIGEST], or a scheme such as oci:DIR or docker-archive:FILE"


class BlobNotFound(ImageError):
    default_hint = "the image is incomplete; re-export or re-pull it"


class DigestMismatch(ImageError):
    default_hint = "the blob is corrupt or was tampered with; do not trust this image"


class UnsafeLayer(ImageError):
    default_hint = "the image contains hostile or corrupt data; do not run it"


class UnsupportedMediaType(ImageError):
    default_hint = "hullcheck reads OCI and Docker v2 images with gzip, zstd or uncompressed layers"


class FormatError(InputError):
    default_hint = "check that the file is what the command expects, and that it is complete"


class RegistryError(HullcheckError):
    default_hint = "check the registry address and your network; use --insecure for plain HTTP"


class AuthError(RegistryError):
    default_hint = (
        "log in with 'docker login', or pass --username and --password-stdin "
        "(or HULLCHECK_REGISTRY_USERNAME/HULLCHECK_REGISTRY_PASSWORD)"
    )


class NotFound(RegistryError):
    default_hint = "check the repository name and tag"


class Unreachable(RegistryError):
    """The server could not be reached, or did not answer in time: no answer at all, as
    opposed to an answer we refuse (401, 404, 5xx, a malformed body)."""

    default_hint = (
        "check the address, your network and proxy settings; "
        "use --insecure for a registry served over plain HTTP"
    )


class DeadlineExceeded(HullcheckError):
    """The whole command (or one admission review) took longer than its deadline."""

    default_hint = "raise --timeout (e.g. --timeout 10m) or check why the server is slow"


class DatabaseError(HullcheckError):
    default_hint = "run 'hullcheck db update' (or 'hullcheck db import') to get a database"


class VerificationError(HullcheckError):
    exit_code = 1
    default_hint = "do not trust this artifact"
