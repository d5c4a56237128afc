"""OCI distribution client: references, credentials, manifests, verified blobs, push, referrers."""
