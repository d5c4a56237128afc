"""The tree: every version of every path, with the layer that wrote or deleted it, and
``View``s of it as of any layer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from hullcheck.filetree.entries import FileEntry, Kind, LayerContents
from hullcheck.filetree.globset import GlobSet, glob_to_regex
from hullcheck.model import Layer

MAX_SYMLINK_HOPS = 40


Version = tuple[int, FileEntry | None]  # (layer index, entry or None when deleted there)


class FileTree:
    def __init__(self, layers: tuple[Layer, ...]) -> None:
        self.layers = layers
        self.versions: dict[str, list[Version]] = {}
        self.final: dict[str, FileEntry] = {}
        self._children: dict[str, set[str]] = {"/": set()}
        self.last_layer = max(len(layers) - 1, 0)
        # Paths some version of which was wanted (content kept, or too large to keep):
        # the only ones catalogers can ask for, so matching need not walk every path.
        self._wanted: set[str] = set()

    # -- building -------------------------------------------------------------------
    @classmethod
    def from_layers(cls, layers: tuple[Layer, ...], contents: Iterable[LayerContents]) -> FileTree:
        tree = cls(layers)
        for lc in contents:
            tree._apply(lc)
        return tree

    def _apply(self, lc: LayerContents) -> None:
        i = lc.index
        for d in lc.opaque:
            for child in list(self._children.get(d, ())):
                self._delete(child, i)
        for p in lc.whiteouts:
            self._delete(p, i)
        for e in lc.entries:
            if e.kind is not Kind.DIR and self._children.get(e.path):
                self._delete(e.path, i)  # a file replacing a directory (listed or implied) hides its contents
            self.versions.setdefault(e.path, []).append((i, e))
            self.final[e.path] = e
            if e.content is not None or e.too_large:
                self._wanted.add(e.path)
            self._link_parent(e.path)

    def _link_parent(self, path: str) -> None:
        while path != "/":
            parent = path.rsplit("/", 1)[0] or "/"
            kids = self._children.get(parent)
            if kids is None:
                self._children[parent] = {path}
            elif path in kids:
                return
            else:
                kids.add(path)
            path = parent

    def _delete(self, path: str, layer: int) -> None:
        for child in list(self._children.pop(path, ())):
            self._delete(child, layer)
        if self.final.pop(path, None) is not None:
            self.versions[path].append((layer, None))
        parent = path.rsplit("/", 1)[0] or "/"
        kids = self._children.get(parent)
        if kids is not None:
            kids.discard(path)

    # -- reading --------------------------------------------------------------------
    def view(self, upto: int | None = None) -> View:
        """The file system as a container sees it after layer ``upto`` (default: the last)."""
        return View(self, self.last_layer if upto is None else upto)

    def all_entries(self) -> Iterator[FileEntry]:
        """Every file any layer shipped, including deleted and overwritten ones."""
        for versions in self.versions.values():
            for _, e in versions:
                if e is not None:
                    yield e

    def is_visible(self, entry: FileEntry) -> bool:
        return self.final.get(entry.path) is entry

    def matching_versions(self, pattern: GlobSet) -> list[FileEntry]:
        """Every version (any layer) of every regular file whose path matches, in layer order."""
        out = [
            e
            for path in self._wanted
            if pattern.match(path)
            for _, e in self.versions[path]
            if e is not None and e.kind is Kind.FILE
        ]
        out.sort(key=lambda e: (e.layer, e.path))
        return out

    def deleted_at(self, entry: FileEntry) -> int | None:
        """The layer that deleted or replaced ``entry``, None while it is visible."""
        versions = self.versions.get(entry.path, [])
        seen = False
        for layer, e in versions:
            if seen:
                return layer
            if e is entry:
                seen = True
        return None


class View:
    """The file system as of one layer. Paths are absolute; lookups follow symlinks in root."""

    def __init__(self, tree: FileTree, upto: int) -> None:
        self.tree = tree
        self.upto = upto
        self._final = upto >= tree.last_layer

    def entry(self, path: str) -> FileEntry | None:
        """The entry at exactly ``path`` (no link following)."""
        if self._final:
            return self.tree.final.get(path)
        for layer, e in reversed(self.tree.versions.get(path, ())):
            if layer <= self.upto:
                return e
        return None

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """``path`` with every symlink resolved inside the image root; None on a loop."""
        if "/." not in path and "//" not in path and not path.endswith("/"):
            # Fast path: a layer wrote this very path and it is no link, so no component
            # of it can be one either (layers cannot write through a link).
            e = self.entry(path)
            if e is not None and e.kind is not Kind.SYMLINK:
                return path
        todo = [c for c in path.split("/") if c][::-1]
        done: list[str] = []
        hops = 0
        while todo:
            comp = todo.pop()
            if comp == ".":
                continue
            if comp == "..":
                if done:
                    done.pop()
                continue  # ".." at the root stays at the root
            candidate = "/" + "/".join([*done, comp])
            e = self.entry(candidate)
            if e is not None and e.kind is Kind.SYMLINK and (todo or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None
                if e.link.startswith("/"):
                    done = []
                todo.extend([c for c in e.link.split("/") if c][::-1])
                continue
            done.append(comp)
        return "/" + "/".join(done)

    def lookup(self, path: str) -> FileEntry | None:
        resolved = self.resolve(path)
        if resolved is None:
            return None
        e = self.entry(resolved)
        if e is not None and e.kind is Kind.HARDLINK:
            # The file as the link's layer had it: a later layer deleting or replacing the
            # target's name leaves this name to the old file, as in a container.
            return View(self.tree, e.layer).entry(e.link)
        return e

    def read(self, path: str) -> bytes | None:
        """Contents of a wanted file (following links); None when absent or not kept."""
        e = self.lookup(path)
        return e.content if e is not None and e.kind is Kind.FILE else None

    def exists(self, path: str) -> bool:
        return self.lookup(path) is not None

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries present in this view whose literal path matches ``pattern``."""
        rx = re.compile(glob_to_regex(pattern) + r"\Z")
        if self._final:
            return sorted(
                (e for p, e in self.tree.final.items() if rx.match(p)), key=lambda e: e.path
            )
        found = []
        for p in self.tree.versions:
            if rx.match(p):
                e = self.entry(p)
                if e is not None:
                    found.append(e)
        return sorted(found, key=lambda e: e.path)

    def files(self) -> Iterator[FileEntry]:
        """Every entry present in this view."""
        if self._final:
            yield from self.tree.final.values()
            return
        for p in self.tree.versions:
            e = self.entry(p)
            if e is not None:
                yield e
