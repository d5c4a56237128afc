"""The image configuration checks: one row per check, each a small pure function.

A check reads the image (config, history, manifest annotations) and the file tree (the
final view a container sees: paths and modes) and returns the evidence that it failed —
an empty tuple when it passed — or ``None`` when it does not apply (e.g. no base-image
annotation to judge). Ids are stable; ``cis`` names the CIS Docker Benchmark (v1.6.0)
recommendation where one exists.
"""

from __future__ import annotations

import re
import stat
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hullcheck.filetree import FileEntry, FileTree, Kind
from hullcheck.image.model import Image
from hullcheck.model import Severity

Evidence = tuple[str, ...]
CheckFn = Callable[[Image, FileTree], Evidence | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    id: str
    title: str
    severity: Severity
    remediation: str
    cis: str  # CIS Docker Benchmark section, "" when none
    fn: CheckFn


def _config(image: Image) -> dict[str, Any]:
    cfg = image.config.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _history(image: Image) -> list[tuple[int, str]]:
    return [(i, str(h.get("created_by", ""))) for i, h in enumerate(image.history)
            if isinstance(h, dict) and h.get("created_by")]


_FILES: weakref.WeakKeyDictionary[FileTree, tuple[FileEntry, ...]] = weakref.WeakKeyDictionary()


def _files(tree: FileTree) -> tuple[FileEntry, ...]:
    """The final view's entries, walked once for all the checks that read every file (until
    ``forget``: ``misconfig.run`` lets go of them when its checks are done)."""
    files = _FILES.get(tree)
    if files is None:
        files = _FILES[tree] = tuple(tree.view().files())
    return files


def forget(tree: FileTree) -> None:
    _FILES.pop(tree, None)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the checks ---------------------------------------------------------------------------


def runs_as_root(image: Image, tree: FileTree) -> Evidence | None:
    user = str(_config(image).get("User") or "").strip()
    name = user.split(":", 1)[0]
    if name in ("", "0", "root"):
        return (f"User is {user!r}" if user else "no User set: the container runs as root",)
    return ()


def no_healthcheck(image: Image, tree: FileTree) -> Evidence | None:
    hc = _config(image).get("Healthcheck")
    test = hc.get("Test") if isinstance(hc, dict) else None
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return ("no HEALTHCHECK in the image config",)
    return ()


_ADD_URL = re.compile(r"(?:^|\s|\))ADD\s+(?:--\S+\s+)*(?:https?|ftp)://", re.ASCII)


def add_remote_url(image: Image, tree: FileTree) -> Evidence | None:
    return tuple(f"history[{i}]: {_short(line)}" for i, line in _history(image)
                 if _ADD_URL.search(line))


CACHE_DIRS = (
    ("/var/lib/apt/lists", ("lock", "partial", "auxfiles")),
    ("/var/cache/apt/archives", ("lock", "partial")),
    ("/var/cache/apk", ()),
    ("/root/.cache/pip", ()),
    ("/root/.npm", ()),
    ("/var/cache/yum", ()),
    ("/var/cache/dnf", ()),
)


def package_caches(image: Image, tree: FileTree) -> Evidence | None:
    # One walk over the tree for every cache directory (a walk per directory cost ~7x).
    found = {top: [0, 0] for top, _ in CACHE_DIRS}  # top -> [files, bytes]
    prefixes = tuple(top + "/" for top, _ in CACHE_DIRS)
    for e in _files(tree):
        if e.kind is not Kind.FILE or not e.path.startswith(prefixes):
            continue
        for top, ignored in CACHE_DIRS:
            if e.path.startswith(top + "/"):
                if e.path[len(top) + 1:].split("/", 1)[0] not in ignored:
                    found[top][0] += 1
                    found[top][1] += e.size
                break
    return tuple(f"{top}: {count} files, {size} bytes" for top, (count, size) in found.items()
                 if count)


def ssh_server(image: Image, tree: FileTree) -> Evidence | None:
    out = []
    for path in ("/usr/sbin/sshd", "/usr/bin/sshd", "/usr/sbin/dropbear"):
        if tree.view().lookup(path) is not None:
            out.append(f"{path} is installed")
    ports = _config(image).get("ExposedPorts")
    if isinstance(ports, dict) and any(str(p).split("/")[0] == "22" for p in ports):
        out.append("port 22 is exposed")
    return tuple(out)


# Set-id programs a distribution ships for a reason (passwords, su, mounts). Others are
# flagged; pass your own allow-list to ``check`` for images that need more.
SETID_ALLOWED = frozenset({
    "/usr/bin/passwd", "/usr/bin/chsh", "/usr/bin/chfn", "/usr/bin/gpasswd", "/usr/bin/newgrp",
    "/usr/bin/su", "/bin/su", "/usr/bin/mount", "/usr/bin/umount", "/bin/mount", "/bin/umount",
    "/usr/bin/chage", "/usr/bin/expiry", "/usr/sbin/unix_chkpwd", "/sbin/unix_chkpwd",
    "/usr/bin/sudo", "/usr/bin/ssh-agent", "/usr/bin/wall", "/usr/bin/write",
    "/usr/bin/crontab", "/usr/bin/newuidmap", "/usr/bin/newgidmap",
    "/usr/lib/openssh/ssh-keysign", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper",
    "/usr/sbin/pam_extrausers_chkpwd", "/bin/bbsuid",
})


def setid_files(image: Image, tree: FileTree, allowed: frozenset[str] = SETID_ALLOWED
                ) -> Evidence | None:
    out = []
    hits = (e for e in _files(tree)  # sorted after filtering: a few, not every file
            if e.kind is Kind.FILE and e.mode & (stat.S_ISUID | stat.S_ISGID)
            and e.path not in allowed)
    for e in sorted(hits, key=lambda e: e.path):
        bits = "+".join(b for b, m in (("setuid", stat.S_ISUID), ("setgid", stat.S_ISGID))
                        if e.mode & m)
        out.append(f"{e.path} ({bits}, mode {e.mode & 0o7777:04o})")
    return tuple(out)


def world_writable(image: Image, tree: FileTree) -> Evidence | None:
    out = []
    # Links carry no permissions of their own; device nodes (/dev/null is 0666) are replaced
    # by the runtime's /dev anyway; a sticky directory (/tmp) is writable by all, but only
    # owners may delete.
    hits = (e for e in _files(tree) if e.mode & stat.S_IWOTH
            and e.kind not in (Kind.SYMLINK, Kind.HARDLINK, Kind.OTHER)
            and not (e.kind is Kind.DIR and e.mode & stat.S_ISVTX))
    for e in sorted(hits, key=lambda e: e.path):
        out.append(f"{e.path} ({e.kind.value}, mode {e.mode & 0o7777:04o})")
    return tuple(out)


BASE_NAME = "org.opencontainers.image.base.name"


def base_tag(image: Image, tree: FileTree) -> Evidence | None:
    annotations = image.manifest.get("annotations")
    name = annotations.get(BASE_NAME) if isinstance(annotations, dict) else None
    if not name:
        labels = _config(image).get("Labels")
        name = labels.get(BASE_NAME) if isinstance(labels, dict) else None
    if not name or not isinstance(name, str):
        return None
    if "@" in name:
        return ()  # pinned by digest
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return (f"base {name} has no tag (means latest)",)
    if last.rsplit(":", 1)[1] == "latest":
        return (f"base {name} uses the latest tag",)
    return ()


_PIPE_TO_SHELL = re.compile(
    r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:/usr)?(?:/bin/)?"
    r"(?:ba|da|z|k|a)?sh\b"
)


def pipe_to_shell(image: Image, tree: FileTree) -> Evidence | None:
    return tuple(f"history[{i}]: {_short(line)}" for i, line in _history(image)
                 if _PIPE_TO_SHELL.search(line))


SENSITIVE_VOLUMES = ("/", "/etc", "/var/run/docker.sock", "/run/docker.sock", "/proc", "/sys",
                     "/root", "/boot", "/dev")


def sensitive_volumes(image: Image, tree: FileTree) -> Evidence | None:
    vols = _config(image).get("Volumes")
    if not isinstance(vols, dict):
        return ()
    out = []
    for v in sorted(vols):
        norm = "/" + "/".join(c for c in str(v).split("/") if c)
        if norm in SENSITIVE_VOLUMES or norm.startswith(("/proc/", "/sys/", "/etc/")):
            out.append(f"VOLUME {v}")
    return tuple(out)


_UPDATE = re.compile(r"\b(?:apt-get|apt|apk|yum|dnf|microdnf|zypper)\s+(?:-\S+\s+)*"
                     r"(?:update|makecache|refresh)\b")
_INSTALL = re.compile(r"\b(?:install|add|upgrade|dist-upgrade|in)\b")


def update_alone(image: Image, tree: FileTree) -> Evidence | None:
    out = []
    for i, line in _history(image):
        m = _UPDATE.search(line)
        if m is not None and not _INSTALL.search(line[m.end():]):
            out.append(f"history[{i}]: {_short(line)}")
    return tuple(out)


CHECKS: tuple[Check, ...] = (
    Check(id="HC-C001", title="Image runs as root", severity=Severity.HIGH, cis="4.1",
          remediation="create an unprivileged user and set it with USER (not 0 or root)",
          fn=runs_as_root),
    Check(id="HC-C002", title="No HEALTHCHECK", severity=Severity.LOW, cis="4.6",
          remediation="add a HEALTHCHECK instruction that probes the service",
          fn=no_healthcheck),
    Check(id="HC-C003", title="ADD fetches a remote URL", severity=Severity.MEDIUM, cis="4.9",
          remediation="download with a verified checksum in RUN, or COPY a vetted file",
          fn=add_remote_url),
    Check(id="HC-C004", title="Package manager caches left in the image", severity=Severity.LOW,
          cis="", fn=package_caches,
          remediation="clean in the same RUN: rm -rf /var/lib/apt/lists/*, apk --no-cache, "
                      "pip --no-cache-dir, npm cache clean --force"),
    Check(id="HC-C005", title="SSH server installed or port 22 exposed", severity=Severity.MEDIUM,
          cis="5.6", fn=ssh_server,
          remediation="remove the SSH server; use docker exec / kubectl exec to get a shell"),
    Check(id="HC-C006", title="setuid/setgid files outside the allow-list",
          severity=Severity.MEDIUM, cis="4.8", fn=setid_files,
          remediation="remove the bits: find / -perm /6000 -type f -exec chmod a-s {} +"),
    Check(id="HC-C007", title="World-writable files or directories without the sticky bit",
          severity=Severity.MEDIUM, cis="", fn=world_writable,
          remediation="chmod o-w the paths, or chmod +t shared directories"),
    Check(id="HC-C008", title="Base image by latest or without a tag", severity=Severity.LOW,
          cis="4.2", fn=base_tag,
          remediation="build FROM a fixed tag and digest (name:tag@sha256:...)"),
    Check(id="HC-C009", title="Download piped into a shell", severity=Severity.HIGH, cis="4.11",
          fn=pipe_to_shell,
          remediation="download to a file, verify its checksum or signature, then run it"),
    Check(id="HC-C010", title="Sensitive path declared as a volume", severity=Severity.HIGH,
          cis="5.5", fn=sensitive_volumes,
          remediation="declare only application data directories as VOLUME"),
    Check(id="HC-C011", title="Package index update without install in the same step",
          severity=Severity.LOW, cis="4.7", fn=update_alone,
          remediation="RUN apt-get update && apt-get install -y ... in one instruction"),
)
