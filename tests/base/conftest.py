"""A small world in the session registry: a base, an application on it, then a newer base
pushed under the same tag; a base catalog that knows the old base; an advisory database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hullcheck import pipeline
from hullcheck.base.identify import BASE_DIGEST, BASE_NAME
from hullcheck.image.writer import BuiltImage, push
from hullcheck.registry import RegistryClient, parse_reference
from hullcheck.vulndb import Source, SourceKind, build
from tests.fixtures.base.images import app_on, new_base, old_base
from tests.fixtures.registry import RunningRegistry

ADVISORIES = Path(__file__).resolve().parent.parent / "fixtures" / "advisories"


@dataclass(frozen=True)
class World:
    host: str
    base: str  # host/hcbase/debian (repository name)
    old: BuiltImage
    new: BuiltImage
    app: str  # reference of the app built on the old base (no annotations)
    app_annotated: str
    app_labelled: str
    app_lying: str  # annotations name the NEW base, layers are the OLD one's
    catalog: Path
    db: Path

    @property
    def tag(self) -> str:
        return f"{self.base}:12"


@pytest.fixture(scope="module")
def world(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("base-world")
    host = registry.host
    base = f"{host}/hcbase/debian"
    old, new = old_base(), new_base()
    with RegistryClient() as client:
        push(client, parse_reference(f"{base}:12"), old)
        catalog = tmp / "catalog.json"
        pipeline.add_bases([f"{base}:12"], catalog_file=catalog)
        refs = {}
        variants = {
            "plain": app_on(old),
            "annotated": app_on(old, annotations={BASE_NAME: f"{base}:12", BASE_DIGEST: old.digest}),
            "labelled": app_on(old, labels={BASE_NAME: f"{base}:12", BASE_DIGEST: old.digest}),
            "lying": app_on(old, annotations={BASE_NAME: f"{base}:12", BASE_DIGEST: new.digest}),
        }
        # The lying image names the new base, which must exist for its layers to be read.
        push(client, parse_reference(f"{base}@{new.digest}"), new)
        for name, image in variants.items():
            ref = f"{host}/hcbase/app:{name}"
            push(client, parse_reference(ref), image)
            refs[name] = ref
        push(client, parse_reference(f"{base}:12"), new)  # the tag moves
    db = tmp / "vuln.db"
    build(db, [
        Source(name="osv-pypa", kind=SourceKind.OSV, locations=(str(ADVISORIES / "osv" / "pypa"),)),
        Source(name="debian-tracker", kind=SourceKind.DEBIAN,
               locations=(str(ADVISORIES / "distro" / "debian-tracker-json-sample.json"),)),
    ])
    return World(host=host, base=base, old=old, new=new, app=refs["plain"],
                 app_annotated=refs["annotated"], app_labelled=refs["labelled"],
                 app_lying=refs["lying"], catalog=catalog, db=db)
