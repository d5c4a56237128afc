"""The one integration point between base trust and the sign room.

``verifier(pull)`` returns the ``SignatureVerifier`` that ``trust.evaluate`` calls for a
source whose trust entry lists public keys or keyless identities: it resolves the base by
digest in its registry and asks ``hullcheck.sign.cosign.verify_image`` (cosign ``.sig`` tag
and cosign 3 Sigstore bundle referrers) whether any of the keys signed exactly that digest,
or ``hullcheck.sign.keyless.verify_image`` whether one of the identities did.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.base.trust import SignatureVerifier
from hullcheck.errors import FormatError, HullcheckError, InputError, VerificationError
from hullcheck.image import PullOptions
from hullcheck.registry.reference import Reference
from hullcheck.sign.identity import Keyless

if TYPE_CHECKING:
    from hullcheck.sign.store import Target


def verifier(pull: PullOptions) -> SignatureVerifier | None:
    """A key-based image signature verifier; None when the sign room is not installed."""
    try:
        from hullcheck.sign import cosign, keys, store
    except ImportError:  # pragma: no cover - the sign room ships with hullcheck
        return None

    def verify(ref: Reference, key_paths: tuple[Path | Keyless, ...]) -> tuple[str, ...]:
        if ref.digest is None:
            raise VerificationError(f"{ref}: a signature can only be checked for a digest")
        target = store.open_target(f"registry:{ref}", pull=pull)
        if target.digest != ref.digest:
            raise VerificationError(f"{ref}: the registry serves {target.digest}")
        signers: list[str] = []
        reasons: list[str] = []
        for path in key_paths:
            if isinstance(path, Keyless):
                signers.extend(_keyless(target, path, reasons))
                continue
            try:
                key = keys.read_public_key(path)
            except InputError as exc:
                raise FormatError(f"trust file key {path}: {exc}", hint=exc.hint) from None
            try:
                verified = cosign.verify_image(target, key)
            except VerificationError as exc:
                reasons.append(str(exc))
                continue
            except HullcheckError as exc:
                reasons.append(f"{path.name}: {exc}")
                continue
            signers.append(f"{path.name} ({verified.key_fingerprint})")
        if not signers:
            raise VerificationError("; ".join(reasons) or f"{ref}: no keys to verify with")
        return tuple(signers)

    return verify


def _keyless(target: Target, accepted: Keyless, reasons: list[str]) -> list[str]:
    """The keyless signer of ``target`` among the accepted identities (the trusted root of the
    trust file, or the production root; no TUF refresh here), or a reason."""
    from hullcheck.sign import keyless, trustroot

    root = trustroot.load(accepted.trusted_root)  # a broken trusted root: FormatError (exit 2)
    try:
        verified = keyless.verify_image(target, accepted, root)
    except VerificationError as exc:
        reasons.append(str(exc))
        return []
    except HullcheckError as exc:
        reasons.append(f"keyless: {exc}")
        return []
    return [f"{verified.signer.identity} (issuer {verified.signer.issuer})"]
