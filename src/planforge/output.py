"""Put rendered files on disk, or compare them with it: one map of files, three uses (write, check, dry run).

planforge owns the files listed in OUT/<slug>/.planforge-index.json with their sha256. It rewrites
an owned file only when its content changes, deletes one that drops out only if nobody edited it, and
refuses to overwrite a file a person edited or wrote (unless forced). User-owned files are created
when missing and never touched again. Writing is staged: every new file is written beside its target
first, and only when all of them are on disk are they moved into place.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from planforge.errors import InputError, InternalError
from planforge.targets import Output

__all__ = ["INDEX_NAME", "CheckReport", "Conflict", "WritePlan", "apply", "check", "plan_writes"]

INDEX_NAME = ".planforge-index.json"
_TMP_PREFIX = ".planforge-tmp-"


@dataclass(frozen=True)
class Conflict:
    """A file planforge would overwrite but must not: edited by a person, or never owned."""

    path: str
    reason: str


@dataclass
class WritePlan:
    """What generate will do under root; nothing has touched the disk yet."""

    root: Path
    index_text: str
    writes: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)
    user_created: dict[str, str] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


@dataclass
class CheckReport:
    """How the disk differs from what generate would write."""

    missing: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when the committed output is current."""
        return not (self.missing or self.changed or self.extra)


def sha256(text: str | bytes) -> str:
    """Hex sha256 of text (UTF-8) or bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def index_text(output: Output, manifest: str) -> str:
    """The index file's content: the owned files and their hashes, sorted."""
    files = {path: sha256(text) for path, text in sorted(output.owned.items())}
    return json.dumps({"planforge_index": 1, "manifest": manifest, "files": files}, indent=2) + "\n"


def read_index(root: Path) -> dict[str, str]:
    """Owned files recorded by the last generate (empty when there is no readable index)."""
    try:
        data = json.loads((root / INDEX_NAME).read_text(encoding="utf-8"))
        files = data.get("files", {})
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _disk(root: Path, path: str) -> bytes | None:
    target = root / path
    try:
        return target.read_bytes() if target.is_file() else None
    except OSError:
        return None


def plan_writes(output: Output, root: Path, manifest: str, *, force: bool = False) -> WritePlan:
    """Decide, file by file, what generate does; conflicts are listed, not raised."""
    index = read_index(root)
    plan = WritePlan(root, index_text(output, manifest))
    for path, text in output.owned.items():
        _plan_owned(plan, index, path, text, force)
    for path, recorded in sorted(index.items()):
        if path in output.owned:
            continue
        current = _disk(root, path)
        if current is None:
            continue
        if sha256(current) == recorded or force:
            plan.removes.append(path)
        else:
            plan.kept_edited.append(path)
    for path, text in output.user.items():
        if _disk(root, path) is None and not (root / path).exists():
            plan.user_created[path] = text
    return plan


def _plan_owned(plan: WritePlan, index: dict[str, str], path: str, text: str, force: bool) -> None:
    current = _disk(plan.root, path)
    if current is None:
        if (plan.root / path).exists() and not force:
            plan.conflicts.append(Conflict(path, "a folder or special file is in the way"))
            return
        plan.writes[path] = text
    elif current == text.encode("utf-8"):
        plan.unchanged.append(path)
    elif force or index.get(path) == sha256(current):
        plan.writes[path] = text
    elif path in index:
        plan.conflicts.append(Conflict(path, "edited since planforge generated it"))
    else:
        plan.conflicts.append(Conflict(path, "exists and was not written by planforge"))


def apply(plan: WritePlan) -> None:
    """Carry out a conflict-free plan: stage every file, then move all into place, then remove."""
    if plan.conflicts:
        raise InternalError("a plan with conflicts cannot be applied")
    root = plan.root
    folders = _Folders(root)
    staged: list[tuple[Path, Path]] = []
    files = {**plan.writes, **plan.user_created}
    try:
        removals = [folders.inside(path) for path in plan.removes]  # checked before anything is written
        for path, text in files.items():
            target = folders.inside(path)
            folders.make(target.parent)
            temp = target.with_name(_TMP_PREFIX + target.name)
            _write(temp, text.encode("utf-8"))
            staged.append((temp, target))
        index_target = folders.inside(INDEX_NAME)
        folders.make(root)
        index_temp = index_target.with_name(_TMP_PREFIX + INDEX_NAME)
        _write(index_temp, plan.index_text.encode("utf-8"))
        staged.append((index_temp, index_target))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(folders.created):
            _remove_empty(directory)
        raise
    for temp, target in staged:
        temp.replace(target)
    for target in removals:
        target.unlink(missing_ok=True)
        _prune(target.parent, root)


def _write(path: Path, data: bytes) -> None:
    """Create path (mode 0o666 less the umask, as open() does) holding data, in three system calls, not six."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class _Folders:
    """The output folder's subfolders as one write plan meets them: each is checked to lie inside the root and
    made once, however many files it holds (a file costs a stat or two, not a walk of its whole path)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.resolved_root = root.resolve()
        self.created: list[Path] = []
        self._resolved: dict[Path, Path] = {}
        self._present: set[Path] = set()

    def inside(self, path: str) -> Path:
        """root/path, refusing anything that resolves outside root (through '..' or a symlink)."""
        target = self.root / path
        folder = self._resolved.get(target.parent)
        if folder is None:
            folder = self._resolved[target.parent] = target.parent.resolve()
        # The folder is resolved once; the file itself only when it is a link (or the path climbs with '..').
        odd = target.name == ".." or target.is_symlink()
        real = target.resolve() if odd else folder / target.name
        if not real.is_relative_to(self.resolved_root):
            raise InputError(
                f"{self.root / path} resolves outside {self.root} (a link in the output folder?); nothing was written"
            )
        return target

    def make(self, directory: Path) -> None:
        """Make directory and the parents it lacks, remembering those made (to remove them if writing fails)."""
        if directory in self._present:
            return
        missing = []
        probe = directory
        while probe not in self._present and not probe.exists():
            missing.append(probe)
            probe = probe.parent
        if missing:
            directory.mkdir(parents=True, exist_ok=True)
            self.created.extend(reversed(missing))
        self._present.update(missing)
        self._present.add(directory)


def _remove_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()


def _prune(directory: Path, root: Path) -> None:
    """Remove folders left empty by deletions, up to (not including) root."""
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def check(output: Output, root: Path, manifest: str) -> CheckReport:
    """Compare what generate would write with the disk; writes nothing."""
    report = CheckReport()
    expected = {**output.owned, INDEX_NAME: index_text(output, manifest)}
    for path, text in expected.items():
        current = _disk(root, path)
        if current is None:
            report.missing.append(path)
        elif current != text.encode("utf-8"):
            report.changed[path] = _diff(path, current, text)
    for path in output.user:
        if not (root / path).exists():
            report.missing.append(path)
    for path in sorted(read_index(root)):
        if path not in output.owned and _disk(root, path) is not None:
            report.extra.append(path)
    report.missing.sort()
    return report


def _diff(path: str, current: bytes, expected: str) -> str:
    before = current.decode("utf-8", errors="replace").splitlines(keepends=True)
    after = expected.splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, f"{path} (on disk)", f"{path} (generated)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
