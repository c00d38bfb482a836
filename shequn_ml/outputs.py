"""Output sets: the files of one run appear together or not at all.

A scoring run writes more than one file (the Parquet table, a CSV copy on request,
and a small manifest). Renaming files one by one is atomic per file, not per run: a
crash between two renames would leave tonight's Parquet beside last night's CSV.
:func:`write_output_set` therefore commits like a database's redo log:

1. every file is written in full to a hidden temporary name in its folder;
2. a *journal* naming each temporary file and its destination is written
   atomically (this is the commit point);
3. the temporary files are renamed into place, the manifest last;
4. the journal is removed.

:func:`recover_output_set` (run at the start of every write, and by
``shequn-ml score`` before it reads anything) finishes a commit whose journal
exists: the run had written everything, so the new set is completed. Without a
journal, stray temporary files of an interrupted run are removed and the previous
set stands untouched. A consumer can always tell a complete set: the manifest is
written last and lists each file's SHA-256 digest (:func:`check_output_set`).

Files are created with the process umask like any other file (``mkstemp`` alone
would make them 0600).

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> files = {folder / "a.txt": lambda tmp: pathlib.Path(tmp).write_text("one"),
...          folder / "b.txt": lambda tmp: pathlib.Path(tmp).write_text("two")}
>>> manifest = write_output_set(files, folder / "run.manifest.json", {"rows": 1})
>>> check_output_set(manifest)["rows"]
1
>>> sorted(p.name for p in folder.iterdir())
['a.txt', 'b.txt', 'run.manifest.json']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

FAULT_ENV = "SHEQUN_ML_FAULT_AT"
"""Environment variable naming a fault point at which the process kills itself (tests only)."""


class OutputPathError(ValueError):
    """An output path that would overwrite an input, or that cannot be written."""


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``$SHEQUN_ML_FAULT_AT`` names ``name``.

    The fault-injection test (tests/test_reliability_outputs.py) sets the variable
    to each point in turn and checks that no kill leaves a mixed output set. Unset,
    this is one dictionary lookup.
    """
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


SCRATCH_PREFIX = "shequn-ml-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_scratch(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove scratch folders (:func:`scratch_dir`) whose process no longer runs.

    A run killed with SIGKILL cannot clean up after itself; its folder (model
    bundles, test-fold scores) is removed by the next run instead.
    """
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def scratch_dir(root: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """A temporary folder named after this process, removed on exit (and by the next
    run if this one is killed: :func:`remove_stale_scratch`)."""
    remove_stale_scratch(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: Iterable[str | os.PathLike[str]],
                  inputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Refuse outputs that resolve to an input, or that cannot be written.

    Symlinks and hard links are followed. A folder of Parquet parts given as an
    input also protects every file under it.

    Raises
    ------
    OutputPathError
        Naming the output and the input it would overwrite, or why it cannot be written.

    Examples
    --------
    >>> check_outputs(["scores.parquet"], {"events": "scores.parquet"})
    Traceback (most recent call last):
    ...
    shequn_ml.outputs.OutputPathError: output scores.parquet is the events input scores.parquet: \
it would be overwritten; choose another --out
    """
    outs = [Path(o) for o in outputs]
    for out in outs:
        for role, given in inputs.items():
            if given is None:
                continue
            src = Path(given)
            inside = src.is_dir() and out.resolve().is_relative_to(src.resolve())
            if inside or _same_file(out, src):
                raise OutputPathError(f"output {out} is the {role} input {src}: it would be "
                                      "overwritten; choose another --out")
        if out.is_dir():
            raise OutputPathError(f"output {out} is an existing folder: name a file, e.g. "
                                  f"{out / 'scores.parquet'}")
        parent = out.parent if str(out.parent) else Path(".")
        existing = parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise OutputPathError(f"output {out}: {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputPathError(f"output {out}: folder {existing} is not writable")


def _journal_path(manifest: Path) -> Path:
    return manifest.with_name(f".{manifest.name}.journal")


def _tmp_prefix(dest: Path) -> str:
    return f".{dest.name}."


def recover_output_set(manifest: str | os.PathLike[str],
                       destinations: Iterable[str | os.PathLike[str]] = (), *, strays: bool = True) -> str:
    """Finish or clean up an interrupted :func:`write_output_set`.

    Parameters
    ----------
    manifest : path
        The set's manifest file (its journal sits beside it).
    destinations : paths, optional
        The set's files: their stray temporary files (``.NAME.*.tmp``) are removed.
    strays : bool, default True
        Remove stray temporary files (False: only finish a committed set, as
        :func:`write_output_set` does before it stages its own files).

    Returns
    -------
    str
        ``"completed"`` (a journal was found and the new set put in place),
        ``"cleaned"`` (temporary files of an uncommitted run removed) or ``"clean"``.
    """
    manifest = Path(manifest)
    journal = _journal_path(manifest)
    state = "clean"
    if journal.exists():
        try:
            moves = json.loads(journal.read_text(encoding="utf-8"))["moves"]
        except (OSError, ValueError, KeyError):
            moves = []  # a journal is written atomically: unreadable means not ours to finish
        for tmp, dest in moves:
            if Path(tmp).exists():
                os.replace(tmp, dest)
        journal.unlink(missing_ok=True)
        state = "completed"
    if not strays:
        return state
    for dest in [manifest, *map(Path, destinations)]:
        folder = dest.parent if dest.parent.exists() else None
        if folder is None:
            continue
        for stray in folder.glob(_tmp_prefix(dest) + "*.tmp"):
            if stray.is_dir():  # a Spark staging folder
                shutil.rmtree(stray, ignore_errors=True)
            else:
                stray.unlink(missing_ok=True)
            state = "cleaned" if state == "clean" else state
    for stray in manifest.parent.glob(f".{manifest.name}.journal.*.tmp") if manifest.parent.exists() else ():
        stray.unlink(missing_ok=True)
    return state


def _temp_beside(dest: Path, mode: int) -> str:
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(dest), suffix=".tmp", dir=dest.parent)
    os.close(fd)
    os.chmod(tmp, mode)
    return tmp


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_output_set(files: Mapping[Path, Callable[[str], object]], manifest: str | os.PathLike[str],
                     info: Mapping[str, object]) -> Path:
    """Write several files and a manifest so that they appear together or not at all.

    Parameters
    ----------
    files : mapping
        Destination path -> a function that writes the whole file to the temporary
        path it is given.
    manifest : path
        The manifest (JSON), written last: ``info`` plus each file's name, size and
        SHA-256 digest. Deterministic (no clock), so reruns stay byte-identical.
    info : mapping
        What the manifest says about the run (cutoff, rows, model versions, ...).

    Returns
    -------
    Path
        The manifest.
    """
    manifest = Path(manifest)
    dests = [Path(d) for d in files]
    for folder in {d.parent for d in [*dests, manifest]}:
        folder.mkdir(parents=True, exist_ok=True)
    recover_output_set(manifest, dests, strays=False)
    mode = 0o666 & ~_umask()
    temps: list[tuple[str, Path]] = []
    try:
        for dest, write in files.items():
            tmp = _temp_beside(Path(dest), mode)
            temps.append((tmp, Path(dest)))
            write(tmp)
            fault_point(f"write:tmp:{Path(dest).name}")
        listing = [{"file": d.name, "bytes": os.path.getsize(t), "sha256": file_sha256(t)} for t, d in temps]
        body = json.dumps({**info, "files": listing}, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        tmp = _temp_beside(manifest, mode)
        temps.append((tmp, manifest))
        Path(tmp).write_text(body, encoding="utf-8")
        fault_point("write:tmp:manifest")
        for t, _ in temps:
            _fsync(t)
        journal = _journal_path(manifest)
        fd, jtmp = tempfile.mkstemp(prefix=f".{manifest.name}.journal.", suffix=".tmp", dir=manifest.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"moves": [[t, str(d)] for t, d in temps]}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        fault_point("write:journal-tmp")
        os.replace(jtmp, journal)
    except BaseException:
        for t, _ in temps:
            Path(t).unlink(missing_ok=True)
        raise
    # committed: from here on an interruption is completed by recover_output_set
    fault_point("write:journal")
    for i, (t, d) in enumerate(temps):
        os.replace(t, d)
        fault_point(f"write:rename:{i}")
    journal.unlink()
    fault_point("write:done")
    return manifest


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_set(manifest: str | os.PathLike[str]) -> dict:
    """Read a manifest and check that every file it lists has the listed digest.

    Raises
    ------
    OutputPathError
        When a file is missing or differs from the manifest (an incomplete set),
        or a commit is still pending (its journal exists).
    """
    manifest = Path(manifest)
    if _journal_path(manifest).exists():
        raise OutputPathError(f"{manifest}: a write was interrupted after it committed; run the job "
                              "again (or shequn_ml.outputs.recover_output_set) to finish it")
    info = json.loads(manifest.read_text(encoding="utf-8"))
    for entry in info["files"]:
        path = manifest.parent / entry["file"]
        if not path.exists() or file_sha256(path) != entry["sha256"]:
            raise OutputPathError(f"{manifest}: {path} is missing or differs from the manifest "
                                  "(an incomplete output set)")
    return info


__all__ = ["FAULT_ENV", "OutputPathError", "check_output_set", "check_outputs", "fault_point",
           "file_sha256", "recover_output_set", "remove_stale_scratch", "scratch_dir", "write_output_set"]
