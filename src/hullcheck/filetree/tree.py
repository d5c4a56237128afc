"""The tree: every version of every path, with the layer that wrote or deleted it, and
``View``s of it as of any layer.

The image is the merge of its layers' indexes, in order. What the merge keeps is compact:
one dictionary per directory, from each name in it (the very string the layer's index
holds) to the entry's *ref* (its row and layer in one int) or, for a path written more
than once or deleted, to its history of refs and deletions. ``FileEntry`` objects are made
when a lookup asks for one, so the tree costs a dictionary slot and an int per entry
(bench/sbom.py prints the bytes per entry).

Where an entry lands: as containerd (``archive.applyNaive``: ``fs.RootPath`` of the member's
parent) and umoci (``securejoin`` of the parent) apply a layer, an entry's parent directory is
resolved through the symlinks present at that moment (lower layers, and this layer's entries
before it), inside the root: ``..`` stops at "/", an absolute target starts again at the
image's root. So ``x/f`` below ``x -> /etc`` is ``/etc/f``; a whiteout ``x/.wh.f`` deletes
``/etc/f``, an opaque marker in ``x/`` empties ``/etc``, and a hard link's target has its
parent resolved the same way (its last component is not followed). Runtimes that apply each
layer into its own overlay upper directory (containerd's overlayfs snapshotter, Docker's
overlay2, CRI-O) see only the same layer's symlinks: for a *lower* layer's ``x`` they make a
directory ``x`` holding ``f`` instead. The tree takes the first reading, where the file does
something (``/etc/ld.so.preload`` is read, a dpkg database is used), not the other.
A parent that cannot be resolved (a symlink loop, more than 255 links: containerd's
``errTooManyLinks``, umoci's ELOOP; an empty target, which ``symlink(2)`` refuses to make)
makes the layer fail to unpack in those runtimes: here an ``ImageError`` naming the layer
and the entry. So does an entry whose parent (once resolved) is below a file, a hard link or a
device, of a lower layer or of the same layer before it (``a`` then ``a/b``), and a hard link
whose target is: the runtimes' mkdir or link(2) fails with ENOTDIR. (Overlay runtimes would
accept a lower layer's file there, hiding it under the upper layer's directory; the tree does
not read a layer two ways, and refusing is the safe side.) A whiteout or an opaque marker below
a file deletes nothing and is no error, as in umoci; a layer deleting or replacing the file
(``.wh.a``, then ``a/b``; a directory ``a``) is fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice

from hullcheck.errors import ImageError
from hullcheck.filetree.entries import FileEntry, Kind
from hullcheck.filetree.globset import GlobSet, glob_to_regex
from hullcheck.filetree.index import DIR, FILE, HARDLINK, OTHER, SYMLINK, TOO_LARGE, LayerIndex
from hullcheck.filetree.tar import OPAQUE, WHITEOUT
from hullcheck.model import Layer

MAX_SYMLINK_HOPS = 40
# Placing a layer's entries: containerd's fs.RootPath and umoci's securejoin give up after
# 255 links in one path; and all the components one layer's placements may walk (a bound
# on hostile input: placing an ordinary layer walks a few per redirected directory).
MAX_PLACE_HOPS = 255
MAX_PLACE_STEPS = 1 << 20
# Entries made recently, by ref: asking twice for one version gives the same object, while
# the tree still holds no object per entry (the cache is emptied when full).
ENTRY_CACHE = 1 << 14
LAYER_BITS = 16  # a ref is row << LAYER_BITS | layer
MAX_LAYERS = 1 << LAYER_BITS
_LAYER_MASK = MAX_LAYERS - 1

Version = tuple[int, FileEntry | None]  # (layer index, entry or None when deleted there)
# A directory's slot for one name: a ref (one version, still there), a history (refs, and
# ~layer where a layer deleted it), or None (only a parent of other paths, never written).
Slot = int | list[int] | None
# What a path holds that a runtime cannot make a directory in (ENOTDIR).
_NOT_DIRS = {FILE: "a file", HARDLINK: "a hard link", OTHER: "a device or FIFO"}


def _live(slot: Slot) -> int:
    """The ref visible in ``slot``; negative when none (a history ending in a deletion
    ends in ~layer, which is negative)."""
    if slot is None:
        return -1
    return slot if isinstance(slot, int) else slot[-1]


def _join(parent: str, name: str) -> str:
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


def _split(path: str) -> tuple[str, str]:
    cut = path.rfind("/")
    return path[:cut] or "/", path[cut + 1:]


def _ancestors(dirs: Iterable[str]) -> set[str]:
    """Every directory in ``dirs`` and every directory above one ("/" too: its own parent
    ends the walk up)."""
    out: set[str] = set()
    for d in dirs:
        p = d
        while p not in out:
            out.add(p)
            p = _split(p)[0]
    return out


def _rows(kinds: bytearray, code: int) -> Iterator[int]:
    """The rows of kind ``code`` (a link: no TOO_LARGE bit), found at C speed."""
    row = kinds.find(code)
    while row >= 0:
        yield row
        row = kinds.find(code, row + 1)


class _Placing:
    """One layer's placements: the directories resolved so far (valid until a path they
    walked through changes: ``changed``), the non-link paths those walks looked at, and
    the steps left."""

    def __init__(self, tree: FileTree, layer: int) -> None:
        self.tree = tree
        self.layer = layer
        self.dirs: dict[str, str] = {}
        self.walked: set[str] = set()
        self.steps = MAX_PLACE_STEPS

    def changed(self, path: str, kind: int) -> None:
        """An entry of ``kind`` was written at ``path``: a walk through it is void when it is
        a symlink, or no directory (what was resolved below it is refused from now on)."""
        if path in self.tree._links or (kind != DIR and path in self.walked):
            self.forget()

    def forget(self) -> None:
        """Resolve again from now on: paths were deleted (symlinks among them, maybe)."""
        self.dirs.clear()
        self.walked.clear()

    def dir(self, path: str, entry: str) -> str:
        """Where directory ``path`` is now, every component resolved and a directory, as an
        entry made below it needs (``entry`` is named when it cannot be)."""
        placed = self.dirs.get(path)
        if placed is None:
            placed = self._resolve(path, entry)
            self._directories(placed, entry)
            self.dirs[path] = placed
        return placed

    def marked(self, path: str, entry: str) -> str:
        """Where directory ``path`` is now for a whiteout or an opaque marker: nothing is made
        there, so a file on the way is no error (it deletes nothing)."""
        return self._resolve(path, entry)

    def file(self, path: str, entry: str) -> str:
        """Where ``path`` lands: its parent resolved, its last component kept."""
        parent, name = _split(path)
        return _join(self.dir(parent, entry), name)

    def _resolve(self, path: str, entry: str) -> str:
        todo = [c for c in path.split("/") if c][::-1]
        done: list[str] = []
        hops = 0
        while todo:
            self.steps -= 1
            if self.steps < 0:
                raise self._refuse(entry, f"more than {MAX_PLACE_STEPS} path components to "
                                   "resolve through symbolic links")
            comp = todo.pop()
            if comp == ".":
                continue
            if comp == "..":
                if done:
                    done.pop()
                continue  # ".." at the root stays at the root
            done.append(comp)
            candidate = "/" + "/".join(done)
            target = self.tree._link_now(candidate)
            if target is None:
                self.walked.add(candidate)
                continue
            done.pop()
            hops += 1
            if hops > MAX_PLACE_HOPS:
                raise self._refuse(entry, f"more than {MAX_PLACE_HOPS} symbolic links "
                                   "in its parent directory (a loop?)")
            if not target:
                raise self._refuse(entry, f"its parent {candidate} is a symbolic link with "
                                   "an empty target")
            if target.startswith("/"):
                done = []
            todo.extend([c for c in target.split("/") if c][::-1])
        return "/" + "/".join(done)

    def _directories(self, placed: str, entry: str) -> None:
        """Refuse ``entry`` when a component of ``placed`` is no directory now (containerd's
        and umoci's mkdir of the parent, or link(2), fail with ENOTDIR)."""
        tree = self.tree
        p = ""
        for name in placed[1:].split("/"):  # "/" gives "", and nothing is at "/"'s slot
            p = f"{p}/{name}"
            live = _live(tree._slot(p))
            if live >= 0 and tree._kind(live) != DIR:
                raise self._refuse(entry, f"{p} is not a directory (layer {live & _LAYER_MASK} "
                                   f"made it {_NOT_DIRS[tree._kind(live)]})")

    def _refuse(self, entry: str, why: str) -> ImageError:
        layers = self.tree.layers
        name = (f"layer {self.layer} ({layers[self.layer].digest})"
                if self.layer < len(layers) else f"layer {self.layer}")
        return ImageError(f"{name}: {entry}: {why}",
                          hint="container runtimes refuse to unpack this layer too")


class FileTree:
    def __init__(self, layers: tuple[Layer, ...]) -> None:
        self.layers = layers
        self.last_layer = max(len(layers) - 1, 0)
        self._indexes: list[LayerIndex] = []
        self._dirs: dict[str, dict[str, Slot]] = {"/": {}}
        # Paths some version of which was wanted (content kept, or too large to keep):
        # the only ones catalogers can ask for, so matching need not walk every path.
        self._wanted: dict[str, None] = {}
        self._made: dict[int, FileEntry] = {}
        # Paths that are (or were) symlinks: a superset, each hit checked (``_link_now``).
        self._links: set[str] = set()
        # Directories (in ``_dirs``) a file or a link replaced: a superset, each hit checked.
        self._filled: set[str] = set()
        # Entries that landed elsewhere than the path their tar names, by ref: (path, hard
        # link target); the same by (layer, tar path); bytes read again for them (None: too
        # large), by ref. All empty for a layer without symlinked parents.
        self._moved: dict[int, tuple[str, str]] = {}
        self._placed: dict[tuple[int, str], int] = {}
        self._kept: dict[int, bytes | None] = {}
        # (view's layer, directory) -> whether anything is visible below it (``View.below``).
        self._below: dict[tuple[int, str], bool] = {}
        self.final: Mapping[str, FileEntry] = _Final(self)
        self.versions: Mapping[str, list[Version]] = _Versions(self)

    # -- building -------------------------------------------------------------------
    @classmethod
    def from_layers(cls, layers: tuple[Layer, ...], indexes: Iterable[LayerIndex]) -> FileTree:
        """The merge of ``indexes``, the i-th being layer i's."""
        tree = cls(layers)
        for index in indexes:
            tree._apply(index)
        return tree

    def _apply(self, index: LayerIndex) -> None:
        i = len(self._indexes)
        if i >= MAX_LAYERS:  # a ref names its layer in LAYER_BITS bits
            raise ImageError(f"image has more than {MAX_LAYERS} layers")
        self._indexes.append(index)
        self._below.clear()  # answers of the layers before this one
        placing = _Placing(self, i)
        for marked in index.opaque:  # the tar member: marked/.wh..wh..opq
            d = placing.marked(marked, _join(marked, OPAQUE)) if self._moves(marked) else marked
            for name in list(self._dirs.get(d, ())):
                self._delete(_join(d, name), i)
            placing.forget()
        for gone in index.whiteouts:  # the tar member: parent/.wh.name
            parent, name = _split(gone)
            if self._moves(parent):
                parent = placing.marked(parent, _join(parent, WHITEOUT + name))
            self._delete(_join(parent, name), i)
            placing.forget()
        own = set(map(index.path, _rows(index.kinds, SYMLINK)))
        self._links |= own
        if self._redirected(index, own):
            self._place(index, i, placing)
        else:
            self._add(index, i)

    def _moves(self, path: str) -> bool:
        """Whether some component of directory ``path`` is a symlink now."""
        return not self._clean(path, set(), {})

    def _clean(self, path: str, own: set[str], memo: dict[str, bool], *,
               solid: bool = False) -> bool:
        """Whether no component of ``path`` is a symlink now or one of ``own`` (this
        layer's symlinks), nor (``solid``) anything else but a directory; ``memo`` holds the
        answers for the paths asked before."""
        pending = []
        p = path
        while p != "/" and p not in memo:
            pending.append(p)
            p = p[:p.rfind("/")] or "/"
        ok = memo.get(p, True)
        for q in reversed(pending):
            ok = ok and not (q in self._links and (q in own or self._link_now(q) is not None))
            if ok and solid and (q not in self._dirs or q in self._filled):
                live = _live(self._slot(q))  # (a directory made no other way is still one)
                ok = live < 0 or self._kind(live) == DIR
            memo[q] = ok
        return ok

    def _redirected(self, index: LayerIndex, own: set[str]) -> bool:
        """Whether a parent of ``index``'s entries, or of a hard link's target, may be (or
        become, through the layer's own symlinks) a symlink, or is no directory now: the
        common answer, no, costs a lookup or two per directory, none per entry. (The
        layer's own files in the way are ``_add``'s to notice.)"""
        memo: dict[str, bool] = {}
        solid = len(self._indexes) > 1  # the first layer has nothing below it
        if not all(self._clean(d, own, memo, solid=solid) for d in index.dirs):
            return True
        kinds = index.kinds
        links = index.links
        return not all(self._clean(_split(links[row])[0], own, memo, solid=solid)
                       for row in _rows(kinds, HARDLINK))

    def _add(self, index: LayerIndex, i: int) -> None:
        """The entries of a layer whose parents are no symlinks: each at its tar path."""
        targets = [self._dir(d) for d in index.dirs]  # each parent's slots, made once
        names, parent, kinds, contents = index.names, index.parent, index.kinds, index.contents
        mine: set[str] | None = None  # this layer's directories and those above them
        for row, name in enumerate(names):
            slots = targets[parent[row]]
            ref = row << LAYER_BITS | i
            if name in slots and kinds[row] & 0x7F != DIR:
                path = _join(index.dirs[parent[row]], name)
                if path in self._dirs:
                    mine = _ancestors(index.dirs) if mine is None else mine
                    if path in mine:  # entries below it may follow: placed in order, checked
                        self._place(index, i, _Placing(self, i), start=row)
                        return
                    self._filled.add(path)
                    if self._dirs[path]:  # a file replacing a directory (listed or only
                        self._delete(path, i)  # implied by files below it) hides its contents
            old = slots.get(name)
            if old is None:
                slots[name] = ref
            elif isinstance(old, int):
                slots[name] = [old, ref]
            else:
                old.append(ref)
            if kinds[row] & TOO_LARGE or row in contents:
                self._wanted[_join(index.dirs[parent[row]], name)] = None

    def _place(self, index: LayerIndex, i: int, placing: _Placing, start: int = 0) -> None:
        """The entries of a layer below symlinked parents or files (from row ``start``):
        each where it lands (see the module's docstring), in the layer's order, since its
        own symlinks and files count from where they stand."""
        names, parent, kinds, contents = index.names, index.parent, index.kinds, index.contents
        dirs, links = index.dirs, index.links
        for row, name in enumerate(islice(names, start, None), start):
            tar_dir = dirs[parent[row]]
            tar_path = _join(tar_dir, name)
            placed_dir = placing.dir(tar_dir, tar_path)
            path = _join(placed_dir, name)
            kind = kinds[row] & 0x7F
            ref = row << LAYER_BITS | i
            slots = self._dir(placed_dir)
            placing.changed(path, kind)
            if name in slots and kind != DIR and path in self._dirs:
                self._filled.add(path)
                if self._dirs[path]:
                    self._delete(path, i)  # a file replacing a directory hides its contents
                    placing.forget()  # (symlinks below it among them)
            old = slots.get(name)
            if old is None:
                slots[name] = ref
            elif isinstance(old, int):
                slots[name] = [old, ref]
            else:
                old.append(ref)
            if kind == SYMLINK:
                self._links.add(path)
            link = links.get(row, "")
            target = placing.file(link, tar_path) if kind == HARDLINK else link
            if path != tar_path or target != link:
                self._moved[ref] = (path, target)
                self._placed[(i, tar_path)] = ref
            elif self._placed:
                self._placed.pop((i, tar_path), None)  # the last entry at that tar path stayed
            if kinds[row] & TOO_LARGE or row in contents:
                self._wanted[path] = None

    def _dir(self, path: str) -> dict[str, Slot]:
        """The slots of directory ``path``, made (and named in its parents) when new; the
        recursion ends at "/", there from the start."""
        slots = self._dirs.get(path)
        if slots is None:
            slots = self._dirs[path] = {}
            parent, name = _split(path)
            self._dir(parent).setdefault(name, None)
        return slots

    def _kind(self, ref: int) -> int:
        return self._indexes[ref & _LAYER_MASK].kinds[ref >> LAYER_BITS] & 0x7F

    def _link_now(self, path: str) -> str | None:
        """The target of the symlink at ``path`` as the layers so far leave it; None when
        none is there."""
        if path not in self._links:
            return None
        live = _live(self._slot(path))
        if live < 0 or self._kind(live) != SYMLINK:
            return None
        return self._indexes[live & _LAYER_MASK].links.get(live >> LAYER_BITS, "")

    def _delete(self, path: str, layer: int) -> None:
        children = self._dirs.get(path)
        if children:
            for name in list(children):
                self._delete(_join(path, name), layer)
        parent, name = _split(path)
        slots = self._dirs.get(parent)
        if slots is None:
            return
        old = slots.get(name)
        live = _live(old)
        if live < 0:
            return
        if isinstance(old, list):
            old.append(~layer)
        else:
            slots[name] = [live, ~layer]

    # -- refs and entries -----------------------------------------------------------
    def _slot(self, path: str) -> Slot:
        parent, name = _split(path)
        slots = self._dirs.get(parent)
        return None if slots is None else slots.get(name)

    def _entry(self, ref: int) -> FileEntry:
        made = self._made.get(ref)
        if made is None:
            if len(self._made) >= ENTRY_CACHE:
                self._made.clear()
            layer = ref & _LAYER_MASK
            made = self._indexes[layer].entry(ref >> LAYER_BITS, layer, ref)
            if ref in self._moved:
                made = self._moved_entry(made)
            self._made[ref] = made
        return made

    def _moved_entry(self, made: FileEntry) -> FileEntry:
        """``made`` at the path it landed, with its hard link's resolved target and the
        bytes read again for it (``keep``)."""
        path, link = self._moved[made.ref]
        made = made._replace(path=path, link=link)
        if made.ref in self._kept:
            content = self._kept[made.ref]
            made = made._replace(content=content, too_large=content is None)
        return made

    def _history(self, slot: Slot) -> Sequence[int]:
        if slot is None:
            return ()
        return (slot,) if isinstance(slot, int) else slot

    def _version(self, v: int) -> Version:
        return (v & _LAYER_MASK, self._entry(v)) if v >= 0 else (~v, None)

    def _final_entry(self, path: str) -> FileEntry | None:
        live = _live(self._slot(path))
        return self._entry(live) if live >= 0 else None

    def _walk(self) -> Iterator[tuple[str, Slot]]:
        """(path, slot) of every path written (or only a parent), directory by directory."""
        for parent, slots in self._dirs.items():
            for name, slot in slots.items():
                yield _join(parent, name), slot

    # -- reading --------------------------------------------------------------------
    def view(self, upto: int | None = None) -> View:
        """The file system as a container sees it after layer ``upto`` (default: the last)."""
        return View(self, self.last_layer if upto is None else upto)

    def all_entries(self) -> Iterator[FileEntry]:
        """Every file any layer shipped, including deleted and overwritten ones."""
        for _, slot in self._walk():
            for v in self._history(slot):
                if v >= 0:
                    yield self._entry(v)

    def results(self, name: str) -> list[tuple[int, bytes]]:
        """(layer, findings) of the content sink ``name`` in each layer that has them."""
        return [(i, index.results[name]) for i, index in enumerate(self._indexes)
                if name in index.results]

    def entry_count(self) -> int:
        """How many versions (entries any layer wrote) the tree holds."""
        return sum(map(len, self._indexes))

    def is_visible(self, entry: FileEntry) -> bool:
        return entry.ref >= 0 and _live(self._slot(entry.path)) == entry.ref

    def matching_versions(self, pattern: GlobSet) -> list[FileEntry]:
        """Every version (any layer) of every regular file whose path matches and whose bytes
        were looked for (kept, or too large to keep), in layer order."""
        out = [
            e
            for path in self._wanted
            if pattern.match(path)
            for v in self._history(self._slot(path))
            if v >= 0 and self._kind(v) == FILE
            for e in (self._entry(v),)
        ]
        out.sort(key=lambda e: (e.layer, e.path))
        return out

    def deleted_at(self, entry: FileEntry) -> int | None:
        """The layer that deleted or replaced ``entry``, None while it is visible."""
        seen = False
        for v in self._history(self._slot(entry.path)):
            if seen:
                return v & _LAYER_MASK if v >= 0 else ~v
            if v == entry.ref:
                seen = True
        return None

    def written_by(self, path: str, layer: int, *, links: bool = False) -> FileEntry | None:
        """The regular file ``layer`` wrote at ``path`` (the last, if it wrote it twice), or
        with ``links`` the hard link: the path its tar names, which a symlinked parent may
        have moved (the entry says where it landed)."""
        moved = self._placed.get((layer, path))
        if moved is not None:
            path = self._moved[moved][0]
        found = -1
        kinds = (FILE, HARDLINK) if links else (FILE,)
        for v in self._history(self._slot(path)):
            if v >= 0 and v & _LAYER_MASK == layer and self._kind(v) in kinds:
                found = v
        return self._entry(found) if found >= 0 else None

    def moved_layers(self) -> frozenset[int]:
        """The layers a symlinked parent moved an entry of (for most images, none)."""
        return frozenset(ref & _LAYER_MASK for ref in self._moved)

    def landed(self, layer: int, path: str) -> tuple[str, bool]:
        """Where the last entry ``layer``'s tar names ``path`` is in the tree (a symlinked
        parent may have moved it), and whether it is still the last entry of that layer
        there (not when a later one landed on it): what a content sink found in the member
        ``path`` (the sinks key their findings by tar path) is about the file there."""
        moved = self._placed.get((layer, path))
        where = path if moved is None else self._moved[moved][0]
        mine = [v for v in self._history(self._slot(where)) if v >= 0 and v & _LAYER_MASK == layer]
        if not mine:
            return where, True  # nothing of that layer there: nothing landed on it either
        if moved is not None:
            return where, mine[-1] == moved
        return where, self._indexes[layer].path(mine[-1] >> LAYER_BITS) == path

    def unkept(self, pattern: GlobSet) -> dict[int, list[str]]:
        """Regular files a symlinked parent moved to a path ``pattern`` matches, whose bytes
        their layer's analysis did not keep (it matched the path the tar names): layer ->
        those tar paths, to read again (``keep``)."""
        out: dict[int, list[str]] = {}
        for ref, (path, _) in self._moved.items():
            layer, row = ref & _LAYER_MASK, ref >> LAYER_BITS
            index = self._indexes[layer]
            if index.kinds[row] == FILE and row not in index.contents and pattern.match(path):
                out.setdefault(layer, []).append(index.path(row))
        return out

    def keep(self, layer: int, index: LayerIndex) -> None:
        """The bytes ``index`` kept of the files a symlinked parent moved: ``layer`` read
        again for the paths ``unkept`` named (the same blob, so the same rows). Their entries
        have them (``build`` calls this before the tree hands out any entry)."""
        kept = [*index.contents, *_rows(index.kinds, FILE | TOO_LARGE)]
        for row in kept:
            ref = row << LAYER_BITS | layer
            if ref in self._moved and self._kind(ref) == FILE:
                self._kept[ref] = index.contents.get(row)
                self._wanted[self._moved[ref][0]] = None

    def file_paths(self) -> Iterator[str]:
        """The path of every regular file in the final view (no entry made for each)."""
        kinds = [index.kinds for index in self._indexes]
        for parent, slots in self._dirs.items():
            prefix = "/" if parent == "/" else parent + "/"
            for name, slot in slots.items():
                live = slot if isinstance(slot, int) else _live(slot)
                if live >= 0 and kinds[live & _LAYER_MASK][live >> LAYER_BITS] & 0x7F == FILE:
                    yield prefix + name


class _Final(Mapping[str, FileEntry]):
    """path -> the entry a container sees there (the tree's final view)."""

    def __init__(self, tree: FileTree) -> None:
        self._tree = tree

    def __getitem__(self, path: str) -> FileEntry:
        e = self._tree._final_entry(path)
        if e is None:
            raise KeyError(path)
        return e

    def get(self, path: str, default: FileEntry | None = None) -> FileEntry | None:  # type: ignore[override]
        e = self._tree._final_entry(path)
        return default if e is None else e

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and _live(self._tree._slot(path)) >= 0

    def __iter__(self) -> Iterator[str]:
        return (path for path, slot in self._tree._walk() if _live(slot) >= 0)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def values(self) -> Iterator[FileEntry]:  # type: ignore[override]
        tree = self._tree
        for _, slot in tree._walk():
            live = _live(slot)
            if live >= 0:
                yield tree._entry(live)

    def items(self) -> Iterator[tuple[str, FileEntry]]:  # type: ignore[override]
        return ((e.path, e) for e in self.values())


class _Versions(Mapping[str, list[Version]]):
    """path -> [(layer, entry, or None where that layer deleted it)], for every path any
    layer wrote."""

    def __init__(self, tree: FileTree) -> None:
        self._tree = tree

    def __getitem__(self, path: str) -> list[Version]:
        found = self.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def get(self, path: str, default: list[Version] | None = None) -> list[Version] | None:  # type: ignore[override]
        slot = self._tree._slot(path)
        if slot is None:
            return default
        return [self._tree._version(v) for v in self._tree._history(slot)]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._tree._slot(path) is not None

    def __iter__(self) -> Iterator[str]:
        return (path for path, slot in self._tree._walk() if slot is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Iterator[tuple[str, list[Version]]]:  # type: ignore[override]
        tree = self._tree
        return ((path, [tree._version(v) for v in tree._history(slot)])
                for path, slot in tree._walk() if slot is not None)


class View:
    """The file system as of one layer. Paths are absolute; lookups follow symlinks in root."""

    def __init__(self, tree: FileTree, upto: int) -> None:
        self.tree = tree
        self.upto = upto
        self._final = upto >= tree.last_layer

    def _ref(self, path: str) -> int:
        """The ref present at exactly ``path`` in this view; negative when none."""
        return self._in(self.tree._slot(path))

    def _in(self, slot: Slot) -> int:
        """The ref of ``slot`` present in this view; negative when none."""
        if self._final:
            return _live(slot)
        for v in reversed(self.tree._history(slot)):
            layer = v & _LAYER_MASK if v >= 0 else ~v
            if layer <= self.upto:
                return v  # ~layer (negative) where that layer deleted it
        return -1

    def entry(self, path: str) -> FileEntry | None:
        """The entry at exactly ``path`` (no link following)."""
        ref = self._ref(path)
        return self.tree._entry(ref) if ref >= 0 else None

    def _link(self, path: str) -> str | None:
        """The target of the symlink at exactly ``path``; None when it is not one."""
        ref = self._ref(path)
        if ref < 0:
            return None
        index = self.tree._indexes[ref & _LAYER_MASK]
        row = ref >> LAYER_BITS
        return index.links.get(row, "") if index.kinds[row] & 0x7F == SYMLINK else None

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """``path`` with every symlink resolved inside the image root; None on a loop or
        through a link with an empty target."""
        # Fast path: a layer wrote this very path and it is no link, so no component of it
        # can be one either (layers cannot write through a link). A written path has no "",
        # "." or ".." component, so only a leading "//" (split as "/" and a name) finds one.
        if "//" not in path and self._ref(path) >= 0 and self._link(path) is None:
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
            link = self._link(candidate)
            if link is not None and (todo or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS or not link:  # Linux: ELOOP; ENOENT for ""
                    return None
                if link.startswith("/"):
                    done = []
                todo.extend([c for c in link.split("/") if c][::-1])
                continue
            done.append(comp)
        return "/" + "/".join(done)

    def lookup(self, path: str) -> FileEntry | None:
        ref = self._ref(path)
        if ref >= 0 and self.tree._kind(ref) != SYMLINK:
            e: FileEntry | None = self.tree._entry(ref)  # resolve()'s fast path, one lookup
        else:
            resolved = self.resolve(path)
            if resolved is None:
                return None
            e = self.entry(resolved)
        if e is not None and e.kind is Kind.HARDLINK:
            # The file as the link's layer had it: a later layer deleting or replacing the
            # target's name leaves this name to the old file, as in a container.
            return View(self.tree, e.layer).entry(e.link)
        return e

    def regular(self, path: str) -> tuple[int, int, bytes | None] | None:
        """(layer, size, kept bytes) of the regular file at exactly ``path``, where one is
        (what ``lookup`` gives there, without making an entry); None for anything else (a
        link on the way, another kind, nothing): ``lookup`` then says what is there."""
        return self._regular(self._ref(path))

    def file_layers(self) -> Callable[[str], int]:
        """A function giving the layer of the regular file at exactly a path (what
        ``regular`` gives first), -1 where there is none: it looks a directory up once for a
        run of paths in it and makes no call per path but the dictionaries', for the ~30k
        rows a big image's RECORDs list (its layer judged them: is the file still its?)."""
        tree = self.tree
        dirs, indexes, final = tree._dirs, tree._indexes, self._final
        parent = ""
        slots: dict[str, Slot] = dirs["/"]

        def layer_of(path: str) -> int:
            nonlocal parent, slots
            cut = path.rfind("/")  # where _split cuts it
            if cut != len(parent) or not path.startswith(parent):
                parent = path[:cut]
                slots = dirs.get(parent or "/", {})
            slot = slots.get(path[cut + 1:])
            ref = (slot if type(slot) is int else _live(slot)) if final else self._in(slot)
            if ref < 0 or indexes[ref & _LAYER_MASK].kinds[ref >> LAYER_BITS] & 0x7F != FILE:
                return -1
            return ref & _LAYER_MASK

        return layer_of

    def _regular(self, ref: int) -> tuple[int, int, bytes | None] | None:
        if ref < 0:
            return None
        layer = ref & _LAYER_MASK
        index = self.tree._indexes[layer]
        row = ref >> LAYER_BITS
        if index.kinds[row] & 0x7F != FILE:
            return None
        return layer, index.sizes[row], index.contents.get(row, self.tree._kept.get(ref))

    def below(self, path: str) -> bool:
        """Whether anything is visible below ``path`` in this view: a directory that only
        the files below it imply (no entry of its own) is one to a container. Stops at the
        first visible entry; a directory found empty is remembered as such (per layer), so
        a deleted subtree is walked once however often it is asked about."""
        tree = self.tree
        layer = min(self.upto, tree.last_layer)
        known = tree._below
        if (layer, path) in known:
            return known[layer, path]
        stack = [(path, iter(tree._dirs.get(path, {}).items()))]
        while stack:
            where, children = stack[-1]
            for name, slot in children:
                sub = _join(where, name)
                if self._in(slot) >= 0 or known.get((layer, sub)):
                    for d, _ in stack:
                        known[layer, d] = True
                    return True
                if sub in tree._dirs and (layer, sub) not in known:
                    stack.append((sub, iter(tree._dirs[sub].items())))
                    break
            else:
                known[layer, where] = False
                stack.pop()
        return False

    def read(self, path: str) -> bytes | None:
        """Contents of a wanted file (following links); None when absent or not kept."""
        e = self.lookup(path)
        return e.content if e is not None and e.kind is Kind.FILE else None

    def exists(self, path: str) -> bool:
        return self.lookup(path) is not None

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries present in this view whose literal path matches ``pattern``."""
        rx = re.compile(glob_to_regex(pattern) + r"\Z")
        found = []
        for path, _ in self.tree._walk():
            if rx.match(path):
                e = self.entry(path)
                if e is not None:
                    found.append(e)
        return sorted(found, key=lambda e: e.path)

    def files(self) -> Iterator[FileEntry]:
        """Every entry present in this view."""
        if self._final:
            yield from self.tree.final.values()
            return
        for path, slot in self.tree._walk():
            if slot is not None:
                e = self.entry(path)
                if e is not None:
                    yield e
