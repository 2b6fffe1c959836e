"""Resumable, verified downloads and safe archive extraction for the dataset recipes.

These helpers are for users with internet access (the test machines have none; the tests serve
files from a local ``http.server``). A download goes to ``<dest>.part``, resumes with an HTTP
``Range`` request when a partial file exists, is checked against the expected size and
checksums, and only then is renamed atomically to ``dest``: a file at ``dest`` is therefore
always complete. An extracted dataset folder is marked complete by a ``.complete`` JSON file
written last (:func:`mark_complete`, :func:`is_complete`).

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> is_complete(folder)
False
>>> mark_complete(folder, {"dataset": "example"})["dataset"]
'example'
>>> is_complete(folder)
True
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

__all__ = [
    "DownloadError",
    "UnsafeArchiveError",
    "download_file",
    "extract_archive",
    "check_links_inside",
    "file_digest",
    "mark_complete",
    "is_complete",
    "COMPLETE_MARKER",
]

COMPLETE_MARKER = ".complete"
_CHUNK = 1 << 20
_USER_AGENT = "audiolib-downloader/0.1"


class DownloadError(OSError):
    """A download that failed or did not verify; the message names the URL and the file."""


class UnsafeArchiveError(ValueError):
    """An archive member that would be written outside the destination; names the member."""


# --------------------------------------------------------------------------------------------
# download


def download_file(
    url: str,
    dest,
    *,
    expected_size: int | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download.

    Args:
        url: an ``http(s)://`` (or ``file://``) URL.
        dest: the final file path; its folder is created. Bytes go to ``dest + ".part"`` first.
        expected_size: the size in bytes, checked when given.
        sha256, md5: hex digests, checked when given (case-insensitive).
        progress: show a tqdm progress bar on stderr.
        timeout: socket timeout in seconds.

    Returns:
        ``dest`` as a ``Path``. If ``dest`` already exists it is verified (size, checksums when
        given) and returned without network access.

    Raises:
        DownloadError: HTTP or network failure (the ``.part`` file is kept, so calling again
            resumes), or a size/checksum mismatch (the bad file is deleted, so calling again
            starts over).

    >>> download_file("http://127.0.0.1:9/x.zip", "/tmp/x.zip")  # doctest: +SKIP
    PosixPath('/tmp/x.zip')
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        _verify(dest, url, expected_size, sha256, md5, delete_on_failure=False)
        return dest

    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        part.unlink()  # more bytes than the file has: not a prefix of it
        offset = 0
    if expected_size is not None and offset == expected_size:
        pass  # a previous run got every byte but stopped before verifying
    else:
        _fetch(url, part, offset, expected_size, progress, timeout)

    _verify(part, url, expected_size, sha256, md5, delete_on_failure=True)
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, offset: int, expected_size, progress: bool, timeout: float) -> None:
    """Append the bytes from ``offset`` on to ``part`` (restarting if the server ignores Range)."""
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            # Range not satisfiable: the partial file already holds the whole resource, or it is
            # not a prefix of it; verification decides.
            total = _total_from_content_range(err.headers.get("Content-Range"))
            if total is not None and total != offset:
                part.unlink()
                return _fetch(url, part, 0, expected_size, progress, timeout)
            return None
        raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"cannot reach {url} ({reason}); check the internet connection, or place the files "
            f"by hand (the partial download {part} is kept and will be resumed)"
        ) from None

    with response:
        status = getattr(response, "status", 200)
        if offset and status == 206:
            mode = "ab"
            total = _total_from_content_range(response.headers.get("Content-Range"))
        else:
            mode, offset = "wb", 0  # server sent the whole file: start over
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if total is None:
            total = expected_size
        bar = _progress_bar(progress, total, offset, part.name)
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        block = response.read(_CHUNK)
                    except (OSError, ValueError) as err:  # IncompleteRead, reset, timeout
                        raise DownloadError(
                            f"download of {url} was interrupted after {out.tell()} bytes ({err!r}); "
                            f"call again to resume from {part}"
                        ) from None
                    if not block:
                        break
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and part.stat().st_size < total:
        raise DownloadError(
            f"download of {url} stopped at {part.stat().st_size} of {total} bytes; "
            f"call again to resume from {part}"
        )


def _verify(path: Path, url: str, expected_size, sha256, md5, *, delete_on_failure: bool) -> None:
    problems = []
    size = path.stat().st_size
    if expected_size is not None and size != int(expected_size):
        problems.append(f"size {size} bytes, expected {int(expected_size)}")
    wanted = {k: v.lower() for k, v in (("sha256", sha256), ("md5", md5)) if v}
    if wanted and not problems:
        digests = file_digest(path, tuple(wanted))
        for algo, value in wanted.items():
            if digests[algo] != value:
                problems.append(f"{algo} {digests[algo]}, expected {value}")
    if problems:
        if delete_on_failure:
            path.unlink()
        raise DownloadError(
            f"{path} (from {url}) does not verify: {'; '.join(problems)}"
            + ("; the file was deleted, call again to download it anew" if delete_on_failure else
               "; delete it and call again to download it anew")
        )


def file_digest(path, algorithms=("sha256",)) -> dict[str, str]:
    """Hex digests of a file, read in 1 MiB blocks: ``{"sha256": "...", ...}``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a"); _ = open(p, "wb").write(b"abc")
    >>> file_digest(p, ("md5",))["md5"]
    '900150983cd24fb0d6963f7d28e17f72'
    """
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            for h in hashes.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashes.items()}


def _total_from_content_range(value: str | None) -> int | None:
    """``"bytes 100-199/200"`` or ``"bytes */200"`` -> 200."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _progress_bar(enabled: bool, total, initial: int, name: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name)


# --------------------------------------------------------------------------------------------
# extraction


def extract_archive(archive, dest_root) -> Path:
    """Extract a zip or tar (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) safely.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    symbolic or hard links whose target leaves ``dest_root`` (each path resolved through the
    archive's own links, so a chain such as ``d -> .``, ``d2 -> d/..`` is caught), and device or
    FIFO members are refused with :class:`UnsafeArchiveError` naming the member, and then nothing
    is extracted. The checks are the project's own, so they hold on every Python it supports;
    tarfile's ``data`` filter is added where this Python has it.

    Args:
        archive: the archive file.
        dest_root: the folder to extract into (created).

    Returns:
        ``dest_root`` as a ``Path``.

    >>> import tempfile, zipfile, os
    >>> d = tempfile.mkdtemp(); z = os.path.join(d, "a.zip")
    >>> with zipfile.ZipFile(z, "w") as f: f.writestr("meta/a.csv", "x\\n")
    >>> (extract_archive(z, os.path.join(d, "out")) / "meta" / "a.csv").read_text()
    'x\\n'
    """
    archive, dest_root = Path(archive), Path(dest_root)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} not found")
    dest_root.mkdir(parents=True, exist_ok=True)
    root = dest_root.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                _check_member_name(member.filename, archive, root)
                mode = (member.external_attr >> 16) & 0o170000
                if mode == stat.S_IFLNK:
                    target = zf.read(member).decode("utf-8", "replace")
                    _check_link(member.filename, target, archive, root, hard=False)
            zf.extractall(root)
        return dest_root
    if _is_tar(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _check_member_name(member.name, archive, root)
                if member.issym() or member.islnk():
                    _check_link(member.name, member.linkname, archive, root, hard=member.islnk())
                elif not (member.isfile() or member.isdir()):
                    raise UnsafeArchiveError(
                        f"{archive}: member {member.name!r} is a device or FIFO; refusing to extract"
                    )
            _check_resolved(members, archive, root)
            tf.extractall(root, members=members, **_tar_filter(members))
        return dest_root
    raise ValueError(f"{archive}: not a zip or tar archive")


def _tar_filter(members) -> dict:
    """tarfile's ``data`` filter where this Python has it (3.10.12, 3.11.4 and later), which
    repeats the checks above; on older ones the same safety by hand: no set-uid, set-gid or
    sticky bits and no write permission for others (the checks above already passed)."""
    if hasattr(tarfile, "data_filter"):
        return {"filter": "data"}
    for member in members:  # pragma: no cover - Python 3.10.0 to 3.10.11
        member.mode &= 0o755
        member.uid = member.gid = 0
        member.uname = member.gname = ""
    return {}


def _resolve(parts, readlink, limit: int = 40):
    """Components (relative to the root) of the path ``parts`` after following every symbolic
    link on the way, as the kernel would; ``None`` when it leaves the root or loops.

    ``readlink(components)`` gives the target of the link at ``components`` or ``None``.
    """
    done: list[str] = []
    todo = list(parts)
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                return None
            done.pop()
            continue
        done.append(part)
        target = readlink(tuple(done))
        if target is not None:
            hops += 1
            target = target.replace("\\", "/")
            if hops > limit or target.startswith("/"):
                return None
            done.pop()
            todo = target.split("/") + todo
    return tuple(done)


def _check_resolved(members, archive: Path, root: Path) -> None:
    """Resolve every member's path and every link's target through the archive's own links (and
    links already in ``root``) before anything is extracted: chains such as ``d -> .`` then
    ``d2 -> d/..`` must end inside ``root``."""
    links = {_member_parts(m.name): m.linkname for m in members if m.issym()}

    def readlink(parts):
        if parts in links:
            return links[parts]
        on_disk = root.joinpath(*parts)
        return os.readlink(on_disk) if on_disk.is_symlink() else None

    for m in members:
        parts = _member_parts(m.name)
        where = _resolve(parts[:-1], readlink)
        if where is None:
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} would be written through a link leading outside "
                                     f"{root}; refusing to extract")
        if m.issym():
            target = _resolve(where + tuple(m.linkname.replace("\\", "/").split("/")), readlink)
        elif m.islnk():
            target = _resolve(_member_parts(m.linkname), readlink)
        else:
            continue
        if target is None:
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} links to {m.linkname!r}, which (following the "
                                     f"archive's links) leads outside {root} or loops; refusing to extract")


def check_links_inside(folder) -> None:
    """Refuse (:class:`UnsafeArchiveError`) if a symbolic link under ``folder`` leads outside it.

    Every link is resolved through the links on the way, as the kernel would, with ``folder``
    as the limit: a link that is safe in a bigger tree (``top/up -> ..``) is not inside ``top``.
    """
    folder = Path(folder)

    def readlink(parts):
        path = folder.joinpath(*parts)
        return os.readlink(path) if path.is_symlink() else None

    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            parts = path.relative_to(folder).parts
            if _resolve(parts[:-1] + tuple(os.readlink(path).replace("\\", "/").split("/")), readlink) is None:
                raise UnsafeArchiveError(f"{path} links to {os.readlink(path)!r}, outside {folder}; refusing to "
                                         "move it there")


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _member_parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _check_member_name(name: str, archive: Path, root: Path) -> None:
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in _member_parts(name):
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refusing to extract")
    target = (root / PurePosixPath(*_member_parts(name) or (".",))).resolve()
    if not _inside(target, root):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written to {target}, outside {root}; refusing to extract"
        )


def _check_link(name: str, link: str, archive: Path, root: Path, *, hard: bool) -> None:
    if link.startswith("/") or link.replace("\\", "/").startswith("/"):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} links to the absolute path {link!r}; refusing to extract"
        )
    parts = _member_parts(name)
    base = root if hard else root.joinpath(*parts[:-1]) if len(parts) > 1 else root
    target = Path(os.path.normpath(base / link))
    if not _inside(target, root):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} links to {link!r}, outside {root}; refusing to extract"
        )


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# --------------------------------------------------------------------------------------------
# completion markers


def mark_complete(folder, info: dict | None = None) -> dict:
    """Write ``folder/.complete`` (JSON: ``info`` plus a UTC timestamp) atomically; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = dict(info or {})
    record.setdefault("completed_utc", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    tmp = folder / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, folder / COMPLETE_MARKER)
    return record


def is_complete(folder) -> bool:
    """True if ``folder/.complete`` exists and holds valid JSON."""
    marker = Path(folder) / COMPLETE_MARKER
    try:
        json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return True


def move_contents(src, dest) -> None:
    """Move every entry of folder ``src`` into ``dest`` (replacing same-named entries)."""
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dest / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        shutil.move(str(entry), str(target))


def unpack_into(archive, dest, *, top: str | None = None, require: str | None = None) -> Path:
    """Extract ``archive`` safely (see :func:`extract_archive`) and move its content into ``dest``.

    Args:
        archive: a zip or tar(.gz) file.
        dest: the folder that receives the content; the archive is unpacked in ``dest/.extracting``
            first, so nothing is written outside ``dest``.
        top: the folder inside the archive whose content belongs in ``dest`` (used when the archive
            has it); ``None``: the archive's single top-level folder if it has exactly one.
            Otherwise the archive's root.
        require: a path that must exist in that content (e.g. the metadata file).

    Returns:
        ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    staging = dest / ".extracting"
    shutil.rmtree(staging, ignore_errors=True)
    extract_archive(archive, staging)
    if top is not None:
        source = staging / top if (staging / top).is_dir() else staging
    else:
        folders = [p for p in staging.iterdir() if p.is_dir()]
        source = folders[0] if len(folders) == 1 else staging
    if require is not None and not (source / require).exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"{archive} does not hold {require}; delete it and download again")
    try:
        check_links_inside(source)  # links checked against the staging root may leave the part moved
    except UnsafeArchiveError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UnsafeArchiveError(f"{archive}: {exc}") from None
    move_contents(source, dest)
    shutil.rmtree(staging, ignore_errors=True)
    return dest
