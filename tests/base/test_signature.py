"""Trust files with keys: the base digest must carry a cosign signature by one of them
(verified through the sign room against the real registry)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from hullcheck import pipeline
from hullcheck.base.model import TrustState, TrustVerdict
from hullcheck.image.writer import BuiltImage, push
from hullcheck.registry import RegistryClient, parse_reference
from hullcheck.sign import cosign, keys, store
from tests.fixtures.base.images import app_on, new_base, old_base
from tests.fixtures.registry import RunningRegistry


@dataclass(frozen=True)
class Signed:
    repo: str
    app: str
    catalog: Path
    tmp: Path
    old: BuiltImage
    new: BuiltImage
    good: keys.SigningKey


@pytest.fixture(scope="module")
def signed(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    tmp = tmp_path_factory.mktemp("base-signed")
    repo = f"{registry.host}/hcsigned/debian"
    old, new = old_base(), new_base()
    good, other = keys.generate(), keys.generate()
    (tmp / "good.pub").write_bytes(good.public.pem())
    (tmp / "other.pub").write_bytes(other.public.pem())
    with RegistryClient() as client:
        push(client, parse_reference(f"{repo}:12"), old)
        cosign.sign_image(store.open_target(f"registry:{repo}@{old.digest}", client=client), good)
        push(client, parse_reference(f"{registry.host}/hcsigned/app:1"), app_on(old))
        # The tag moves to an image nobody signed.
        push(client, parse_reference(f"{repo}:12"), new)
    catalog = tmp / "catalog.json"
    pipeline.add_bases([f"{repo}@{old.digest}"], catalog_file=catalog)
    return Signed(repo=repo, app=f"{registry.host}/hcsigned/app:1", catalog=catalog, tmp=tmp,
                  old=old, new=new, good=good)


def _verdict(signed: Signed, key: str) -> TrustVerdict:
    trust = signed.tmp / f"trust-{key}.yaml"
    trust.write_text(f"sources:\n  - name: {signed.repo}\n    keys: [{key}.pub]\n")
    req = pipeline.BaseRequest(image=signed.app, catalog=signed.catalog, trust=trust,
                               advice=False, today=date(2024, 6, 1))
    verdict = pipeline.assess_base(req).trust
    assert verdict is not None
    return verdict


def test_signed_base_is_trusted_with_its_key(signed: Signed) -> None:
    verdict = _verdict(signed, "good")
    assert verdict.state is TrustState.TRUSTED
    assert verdict.signers == (f"good.pub ({signed.good.public.fingerprint})",)
    assert verdict.reason.endswith(f"signed by good.pub ({signed.good.public.fingerprint})")


def test_signature_by_another_key_is_untrusted(signed: Signed) -> None:
    verdict = _verdict(signed, "other")
    assert verdict.state is TrustState.UNTRUSTED
    assert verdict.reason.startswith(f"no signature by the keys of {signed.repo} verified")
    assert "signed with another key" in verdict.reason


def test_a_base_recorded_by_digest_has_no_tag_to_compare(signed: Signed) -> None:
    req = pipeline.BaseRequest(image=signed.app, catalog=signed.catalog, advice=False,
                               today=date(2024, 6, 1))
    a = pipeline.assess_base(req)
    assert a.identity.digest == signed.old.digest and a.identity.tag == ""
    assert a.freshness is None
    assert any("no tag and digest to compare" in n for n in a.notes)


def test_the_image_the_tag_moved_to_is_not_signed(signed: Signed) -> None:
    from hullcheck.errors import VerificationError
    from hullcheck.image import PullOptions

    verify = pipeline.signature_verifier(PullOptions())
    ref = parse_reference(f"{signed.repo}@{signed.new.digest}")
    with pytest.raises(VerificationError, match="no signatures found"):
        verify(ref, (signed.tmp / "good.pub",))
    assert verify(parse_reference(f"{signed.repo}@{signed.old.digest}"), (signed.tmp / "good.pub",))


def test_each_signature_check_closes_its_registry_connection(signed: Signed) -> None:
    """The verifier's registry client is closed when the check ends, verified or not: an
    unclosed one leaves its pooled connection for the garbage collector (ResourceWarning)."""
    import gc
    import warnings

    from hullcheck.errors import VerificationError
    from hullcheck.image import PullOptions

    verify = pipeline.signature_verifier(PullOptions())
    gc.collect()  # what earlier tests left is not this check's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            assert verify(parse_reference(f"{signed.repo}@{signed.old.digest}"),
                          (signed.tmp / "good.pub",))
            with pytest.raises(VerificationError):
                verify(parse_reference(f"{signed.repo}@{signed.new.digest}"),
                       (signed.tmp / "good.pub",))
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
