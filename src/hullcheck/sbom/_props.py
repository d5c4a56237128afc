"""Names of the ``hullcheck:`` properties written into CycloneDX documents.

Shaped like Syft's (``syft:location:0:path``, ``syft:location:0:layerID``) and Trivy's
(``aquasecurity:trivy:LayerDiffID``, ``aquasecurity:trivy:SrcName``) so a reader of either
finds the same facts in the same places; the foreign names are listed so decode() can read
documents those tools wrote.
"""

from __future__ import annotations

NS = "hullcheck:"

# metadata: the image, its distro, the scope and what the scope left out
SCOPE = "hullcheck:scope"
HIDDEN_COUNT = "hullcheck:hidden-packages:count"  # packages seen only in lower layers
HIDDEN_OMITTED = "hullcheck:hidden-packages:omitted"  # ... of which this document leaves out
IMAGE_KIND = "hullcheck:image:kind"
IMAGE_NAME = "hullcheck:image:name"
IMAGE_DIGEST = "hullcheck:image:manifest-digest"
IMAGE_CONFIG = "hullcheck:image:config-digest"
IMAGE_REPO_DIGEST = "hullcheck:image:repo-digest"
IMAGE_TAG = "hullcheck:image:tag"
IMAGE_PLATFORM = "hullcheck:image:platform"
IMAGE_CREATED = "hullcheck:image:created"
IMAGE_LABEL = "hullcheck:image:label:"  # + key
DISTRO = "hullcheck:distro:"  # + id, version-id, codename, name, pretty-name, id-like
LAYER = "hullcheck:layer:"  # + N:digest, N:diff-id, N:media-type, N:size, N:created-by
FILES_TOTAL = "hullcheck:files:total"  # regular files visible in the image
FILES_OWNED = "hullcheck:files:owned"  # ... of which some package owns

# components
PACKAGE_TYPE = "hullcheck:package:type"
FOUND_BY = "hullcheck:found-by"
LOCATION = "hullcheck:location:"  # + N:path, N:layer-index
LAYER_DIFF_ID = "hullcheck:layer:diff-id"  # the layer that brought the package
LAYER_CREATED_BY = "hullcheck:layer:created-by"
VISIBILITY = "hullcheck:visibility"
OWNED_BY = "hullcheck:owned-by"  # purl of the OS package that ships this package's files
SOURCE_NAME = "hullcheck:source-package:name"
SOURCE_VERSION = "hullcheck:source-package:version"
ARCH = "hullcheck:arch"
FILES_COUNT = "hullcheck:files:count"
CPE = "hullcheck:cpe:"  # + N, CPEs after the first (which is the component's cpe)
LICENSES = "hullcheck:licenses"  # JSON list; only when the licence field cannot hold them all
# JSON list of {expression, confidence, path}: the licences detected from licence text (the
# licence field says "concluded"; this says with what confidence, from which file)
LICENSES_DETECTED = "hullcheck:licenses:detected"
SUPPLIER_KIND = "hullcheck:supplier:kind"  # person | organization (CycloneDX: an organisation)
PURL_UNPARSED = "hullcheck:purl"  # a purl the purl library refused
RELATIONSHIP = "hullcheck:relationship:"  # + type; value: target
EXTRA = "hullcheck:extra:"  # + key

# other tools
SYFT_FOUND_BY = "syft:package:foundBy"
SYFT_LOCATION = "syft:location:"  # + N:path, N:layerID (a diff id)
SYFT_SOURCE = "syft:metadata:source"
SYFT_SOURCE_VERSION = "syft:metadata:sourceVersion"
TRIVY_PATH = "aquasecurity:trivy:FilePath"
TRIVY_DIFF_ID = "aquasecurity:trivy:LayerDiffID"
TRIVY_SRC_NAME = "aquasecurity:trivy:SrcName"
TRIVY_SRC_VERSION = "aquasecurity:trivy:SrcVersion"
TRIVY_SRC_RELEASE = "aquasecurity:trivy:SrcRelease"
TRIVY_SRC_EPOCH = "aquasecurity:trivy:SrcEpoch"
