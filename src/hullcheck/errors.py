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
    ├── RegistryError                   talking to an OCI registry failed
    │   ├── AuthError                   credentials missing or refused
    │   └── NotFound                    the registry says the repository/tag/blob is unknown
    ├── DatabaseError                   the advisory database is missing, corrupt or too new
    └── VerificationError               a signature or attestation did not verify
"""

from __future__ import annotations


class HullcheckError(Exception):
    """Base of every expected failure. ``hint`` says how to fix it."""

    exit_code: int = 2
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # One line: newlines in messages (e.g. from server bodies) are folded.
        super().__init__(" ".join(message.split()))
        self.hint = hint if hint is not None else self.default_hint


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


class DatabaseError(HullcheckError):
    default_hint = "run 'hullcheck db update' (or 'hullcheck db import') to get a database"


class VerificationError(HullcheckError):
    exit_code = 1
    default_hint = "do not trust this artifact"
