"""Keys, in-toto statements, DSSE envelopes and cosign-compatible signatures.

    keys.py           ECDSA P-256 keys; cosign's encrypted private-key format
    simplesigning.py  the payload a cosign image signature signs
    dsse.py           DSSE envelopes (PAE signing)
    intoto.py         in-toto Statement v1 and predicate types
    bundle.py         Sigstore bundles (cosign 3), key-based
    store.py          where signatures live: registry repository or OCI layout
    cosign.py         sign / attest / verify in cosign's layouts
    identity.py       keyless signers: what a Fulcio certificate says (judged by
                      ``hullcheck.signers.IdentityPolicy``, cosign's identity flags)
    trustroot.py      Sigstore trust material (trusted_root.json; the production root, TUF)
    keyless_classic.py  cosign's classic keyless layer (certificate, chain, Rekor SET), by hand
    sigstore_bundle.py  keyless Sigstore bundles, through sigstore-python
    keyless.py        keyless verify of an image's signatures and attestations, and bundle files

Verification raises ``VerificationError`` and returns a verified object on success.
"""
