"""Keys, in-toto statements, DSSE envelopes and cosign-compatible signatures.

    keys.py           ECDSA P-256 keys; cosign's encrypted private-key format
    simplesigning.py  the payload a cosign image signature signs
    dsse.py           DSSE envelopes (PAE signing)
    intoto.py         in-toto Statement v1 and predicate types
    bundle.py         Sigstore bundles (cosign 3), key-based
    store.py          where signatures live: registry repository or OCI layout
    cosign.py         sign / attest / verify in cosign's layouts

Verification raises ``VerificationError`` and returns a verified object on success.
"""
