"""OCI distribution client: references, credentials, manifests, verified blobs, push, referrers.

parse_reference("debian:12")  # docker.io/library/debian:12
with RegistryClient() as client:
    manifest = client.get_manifest(ref)            # digest-verified Manifest
    with client.open_blob(ref, digest, size=n) as reader: ...   # streamed, verified at EOF
"""

from hullcheck.registry.auth import CredentialLookup, Credentials, lookup_credentials
from hullcheck.registry.client import RegistryClient, is_loopback
from hullcheck.registry.media import Descriptor, Manifest
from hullcheck.registry.reference import Reference, parse_reference

__all__ = [
    "CredentialLookup",
    "Credentials",
    "Descriptor",
    "Manifest",
    "Reference",
    "RegistryClient",
    "is_loopback",
    "lookup_credentials",
    "parse_reference",
]
