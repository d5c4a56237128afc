"""What enters the service, checked before anything is stored or queued: references (only
from configured registries: the service pulls nothing else, so no request can make it reach
an address of the requester's choosing), registry notification envelopes, deployments, and
version ranges for search. Every refusal is one line."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import FormatError, HullcheckError, UsageError
from hullcheck.fleet.model import Deployment
from hullcheck.monitor.config import Config
from hullcheck.registry.media import INDEX_TYPES, MANIFEST_TYPES
from hullcheck.registry.reference import Reference, parse_reference

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_EVENTS = 1000  # events in one envelope
MAX_PODS = 100_000
_FIELD = 253  # characters of a cluster, namespace, workload or container name


@dataclass(frozen=True, slots=True, kw_only=True)
class Push:
    """A manifest or index pushed to a configured registry: what a scan job takes."""

    reference: str  # HOST/REPO@sha256:... (pinned: the digest that was pushed)
    repository: str  # HOST/REPO
    digest: str
    tags: tuple[str, ...] = ()

    def args(self) -> dict[str, Any]:
        return {"reference": self.reference, "repository": self.repository,
                "digest": self.digest, "tags": list(self.tags)}


def allowed_reference(text: str, config: Config) -> Reference:
    """``text`` as a registry reference whose host is in ``registries:``; UsageError else."""
    try:
        ref = parse_reference(text.removeprefix("registry:"))
    except HullcheckError as exc:
        raise UsageError(f"not an image reference: {exc}") from None
    if config.registry(ref.registry) is None:
        raise UsageError(f"registry {ref.registry} is not in the service's registries: "
                         "images are pulled only from configured hosts",
                         hint="add it to registries: in the monitor config")
    return ref


def push_of(ref: Reference, *, tags: Iterable[str] = ()) -> Push:
    """A scan request for ``ref``; without a digest it is resolved by the job."""
    tag_list = tuple(dict.fromkeys([*(t for t in tags if t), *([ref.tag] if ref.tag else [])]))
    return Push(reference=str(ref), repository=ref.name, digest=ref.digest or "", tags=tag_list)


# -- registry notifications ----------------------------------------------------------------


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise FormatError(f"{where}: {key!r} must be a string")
    return value


def _target_host(target: Mapping[str, Any], request: Any, where: str) -> str:
    """The registry the event is about: its ``target.url`` host, else ``request.host``."""
    import httpx

    url = _text(target, "url", where)
    if url:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise FormatError(f"{where}: target.url is not a URL") from None
        host = parsed.host
        if not host:
            raise FormatError(f"{where}: target.url has no host")
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{parsed.port}" if parsed.port else host
    if isinstance(request, Mapping):
        host = _text(request, "host", where)
        if host:
            return host
    raise FormatError(f"{where}: the event names no registry (target.url, request.host)")


def registry_pushes(envelope: bytes, config: Config, *, limit: int) -> list[Push]:
    """The manifest and index pushes of a CNCF distribution notification envelope
    (``{"events": [{"action": "push", "target": {mediaType, digest, repository, url, tag},
    "request": {host}}]}``). Pulls, deletes, blob pushes and other media types are skipped;
    a push to a registry not in the config refuses the whole envelope (UsageError)."""
    if len(envelope) > limit:
        raise FormatError(f"registry event envelope: larger than {limit} bytes")
    doc = untrusted.json_object(envelope, what="registry event envelope")
    events = doc.get("events")
    if not isinstance(events, list):
        raise FormatError("registry event envelope: expected {\"events\": [...]}")
    if len(events) > MAX_EVENTS:
        raise FormatError(f"registry event envelope: more than {MAX_EVENTS} events")
    pushes: dict[str, Push] = {}
    for i, event in enumerate(events):
        push = _push(event, config, f"registry event envelope: events[{i}]")
        if push is None:
            continue
        old = pushes.get(push.reference)
        tags = (*(old.tags if old else ()), *push.tags)
        pushes[push.reference] = Push(reference=push.reference, repository=push.repository,
                                      digest=push.digest, tags=tuple(dict.fromkeys(tags)))
    return list(pushes.values())


def _push(event: Any, config: Config, where: str) -> Push | None:
    if not isinstance(event, Mapping):
        raise FormatError(f"{where}: an event is an object")
    target = event.get("target")
    if not isinstance(target, Mapping):
        raise FormatError(f"{where}: no target object")
    media = _text(target, "mediaType", where)
    if _text(event, "action", where) != "push" or media not in (*MANIFEST_TYPES, *INDEX_TYPES):
        return None
    digest = _text(target, "digest", where)
    if not _DIGEST.fullmatch(digest):
        raise FormatError(f"{where}: target.digest must be sha256:<64 hex>")
    host = _target_host(target, event.get("request"), where)
    if config.registry(host) is None:
        raise UsageError(f"{where}: registry {host} is not in the service's registries; "
                         "nothing was queued", hint="add it to registries: in the monitor config")
    repository, tag = _text(target, "repository", where), _text(target, "tag", where)
    try:
        ref = parse_reference(f"{host}/{repository}@{digest}")
        if tag:
            ref = Reference(registry=ref.registry, repository=ref.repository, tag=tag,
                            digest=digest)
    except HullcheckError as exc:
        raise FormatError(f"{where}: {exc}") from None
    pinned = f"{ref.name}@{digest}"
    return Push(reference=pinned, repository=ref.name, digest=digest,
                tags=(tag,) if tag else ())


# -- deployments ------------------------------------------------------------------------------


def _name(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _FIELD or not value.isprintable():
        raise FormatError(f"{where}: {what} must be a name of 1-{_FIELD} printable characters")
    return value


def _digest_of(image_id: Any) -> str:
    """``sha256:...`` from a container status ``imageID`` (``docker-pullable://R@sha256:..``,
    ``R@sha256:...``, ``sha256:...``); "" when it names none."""
    if not isinstance(image_id, str):
        return ""
    digest = image_id.rsplit("@", 1)[-1].removeprefix("docker-pullable://")
    return digest if _DIGEST.fullmatch(digest) else ""


def _workload(meta: Mapping[str, Any]) -> str:
    """The controller that owns the pod (a ReplicaSet's Deployment, by the template hash)."""
    owners = meta.get("ownerReferences")
    name = str(meta.get("name", ""))
    if isinstance(owners, list) and owners and isinstance(owners[0], Mapping):
        name = str(owners[0].get("name", name))
        labels = meta.get("labels")
        template = labels.get("pod-template-hash") if isinstance(labels, Mapping) else None
        if owners[0].get("kind") == "ReplicaSet" and template and name.endswith(f"-{template}"):
            name = name[: -len(template) - 1]
    return name


def _pods(items: list[Any], cluster: str) -> list[Deployment]:
    out = []
    for i, pod in enumerate(items):
        where = f"deployments: items[{i}]"
        if not isinstance(pod, Mapping) or not isinstance(pod.get("metadata"), Mapping):
            raise FormatError(f"{where}: a pod is an object with metadata")
        meta = pod["metadata"]
        namespace = _name(meta.get("namespace", "default"), "metadata.namespace", where)
        workload = _name(_workload(meta), "the owner or pod name", where)
        status = pod.get("status")
        statuses = status.get("containerStatuses", []) if isinstance(status, Mapping) else []
        if not isinstance(statuses, list):
            raise FormatError(f"{where}: status.containerStatuses must be a list")
        for cs in statuses:
            if not isinstance(cs, Mapping):
                raise FormatError(f"{where}: a container status is an object")
            digest = _digest_of(cs.get("imageID"))
            if digest:  # not started yet: nothing is known to run
                out.append(Deployment(cluster=cluster, namespace=namespace, workload=workload,
                                      container=_name(cs.get("name"), "container name", where),
                                      image_digest=digest))
    return out


def _rows(items: list[Any], cluster: str | None) -> list[Deployment]:
    out = []
    for i, row in enumerate(items):
        where = f"deployments: [{i}]"
        if not isinstance(row, Mapping):
            raise FormatError(f"{where}: expected {{cluster, namespace, workload, digest}}")
        digest = row.get("digest", row.get("imageDigest", row.get("image_digest")))
        if not isinstance(digest, str):
            digest = ""
        digest = _digest_of(digest) or _digest_of(row.get("image"))
        if not digest:
            raise FormatError(f"{where}: digest must be sha256:<64 hex>")
        out.append(Deployment(
            cluster=_name(row.get("cluster", cluster), "cluster", where),
            namespace=_name(row.get("namespace"), "namespace", where),
            workload=_name(row.get("workload"), "workload", where),
            container=_name(row.get("container") or row.get("workload"), "container", where),
            image_digest=digest))
    return out


def deployments(document: bytes, *, cluster: str | None, limit: int) -> dict[str, list[Deployment]]:
    """{cluster: deployments} from ``kubectl get pods -A -o json`` (``cluster`` required)
    or a list of rows (each names its cluster, or ``cluster`` does)."""
    if len(document) > limit:
        raise FormatError(f"deployments: larger than {limit} bytes")
    doc = untrusted.json_document(document, what="deployments")
    if isinstance(doc, Mapping) and isinstance(doc.get("items"), list):
        if not cluster:
            raise UsageError("a kubectl pod list does not say its cluster: give cluster=NAME")
        items = doc["items"]
        rows = _pods(items[:MAX_PODS + 1], _name(cluster, "cluster", "deployments"))
        if not rows and not items:
            return {cluster: []}
    elif isinstance(doc, list) or (isinstance(doc, Mapping) and isinstance(doc.get("deployments"),
                                                                         list)):
        items = doc if isinstance(doc, list) else doc["deployments"]
        rows = _rows(items[:MAX_PODS + 1], cluster)
    else:
        raise FormatError("deployments: expected a kubectl pod list ({\"items\": [...]}) or a "
                          "list of {cluster, namespace, workload, digest}")
    if len(rows) > MAX_PODS:
        raise FormatError(f"deployments: more than {MAX_PODS} containers")
    out: dict[str, list[Deployment]] = defaultdict(list)
    for row in rows:
        out[row.cluster].append(row)
    if cluster and not out:
        out[cluster] = []
    return dict(out)


# -- search ---------------------------------------------------------------------------------

_OP = re.compile(r"\s*(>=|<=|==|!=|>|<|=)?\s*([^\s,]+)\s*")


def version_filter(purl: str, versions: str | None) -> Callable[[str], bool] | None:
    """A filter for ``versions`` (``>=5.6.0,<5.6.2``: all must hold), compared with the
    purl type's scheme; None when no range is given. UsageError when it cannot be read."""
    if not versions:
        return None
    from hullcheck import versions as vs
    from hullcheck.ecosystem import ECOSYSTEMS

    ptype = purl.removeprefix("pkg:").split("/", 1)[0].lower()
    row = next((e for t, e in ECOSYSTEMS.items() if ptype in (t.value, e.purl_type)),
               None)
    if row is None or not row.version_scheme:
        raise UsageError(f"no version scheme for purl type {ptype!r}: search by exact version")
    scheme = row.version_scheme
    checks: list[tuple[str, Any]] = []
    for part in versions.split(","):
        m = _OP.fullmatch(part)
        if m is None:
            raise UsageError(f"version range {versions!r}: write e.g. >=5.6.0,<5.6.2")
        try:
            checks.append((m.group(1) or "==", vs.key(scheme, m.group(2))))
        except HullcheckError as exc:
            raise UsageError(f"version range {versions!r}: {exc}") from None
    ops: dict[str, Callable[[Any, Any], bool]] = {
        ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        "<": lambda a, b: a < b, "==": lambda a, b: a == b, "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b}

    def accept(version: str) -> bool:
        try:
            k = vs.key(scheme, version)
        except HullcheckError:
            return False  # a version the scheme cannot read is never in a range
        return all(ops[op](k, bound) for op, bound in checks)

    return accept
