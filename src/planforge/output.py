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
    staged: list[tuple[Path, Path]] = []
    created_dirs: list[Path] = []
    files = {**plan.writes, **plan.user_created}
    try:
        resolved = root.resolve()
        removals = [_inside(root, path, resolved) for path in plan.removes]  # checked before anything is written
        for path, text in files.items():
            target = _inside(root, path, resolved)
            created_dirs.extend(_make_parents(target.parent))
            temp = target.with_name(_TMP_PREFIX + target.name)
            temp.write_bytes(text.encode("utf-8"))
            staged.append((temp, target))
        index_target = _inside(root, INDEX_NAME, resolved)
        created_dirs.extend(_make_parents(root))
        index_temp = index_target.with_name(_TMP_PREFIX + INDEX_NAME)
        index_temp.write_bytes(plan.index_text.encode("utf-8"))
        staged.append((index_temp, index_target))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(created_dirs):
            _remove_empty(directory)
        raise
    for temp, target in staged:
        temp.replace(target)
    for target in removals:
        target.unlink(missing_ok=True)
        _prune(target.parent, root)


def _inside(root: Path, path: str, resolved_root: Path | None = None) -> Path:
    """root/path, refusing anything that resolves outside root (through '..' or a symlink); resolved_root is
    root resolved, when the caller has it already."""
    target = root / path
    resolved_root = resolved_root or root.resolve()
    if not target.resolve().is_relative_to(resolved_root):
        raise InputError(f"{root / path} resolves outside {root} (a link in the output folder?); nothing was written")
    return target


def _make_parents(directory: Path) -> list[Path]:
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    directory.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


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
