"""audiolib.data.download against a local HTTP server (127.0.0.1, in a thread) with Range support."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from audiolib.data.download import (
    DownloadError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    is_complete,
    mark_complete,
    unpack_into,
)


class _Handler(BaseHTTPRequestHandler):
    """Serves files from ``server.root``; honours ``Range: bytes=N-`` unless told not to.

    ``server.cut_next`` (int or None): the next response announces the full length but closes
    the connection after that many body bytes (a dropped connection).
    """

    def do_GET(self):  # noqa: N802 (http.server API)
        server = self.server
        server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        path = server.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        start = 0
        header = self.headers.get("Range")
        if header and server.honour_range and header.startswith("bytes=") and header.endswith("-"):
            start = int(header[len("bytes="):-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if server.cut_next is not None:
            body, server.cut_next = body[: server.cut_next], None
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root, httpd.requests, httpd.honour_range, httpd.cut_next = root, [], True, None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _payload(size=300_000, seed=0) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (size // 32) + b"tail"


def test_download_and_verify(server, tmp_path):
    data = _payload()
    (server.root / "a.bin").write_bytes(data)
    dest = tmp_path / "out" / "a.bin"
    got = download_file(f"{server.url}/a.bin", dest, expected_size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest(),
                        progress=False)
    assert got == dest and dest.read_bytes() == data
    assert not (tmp_path / "out" / "a.bin.part").exists()
    # a second call verifies the file on disk and does not contact the server
    before = len(server.requests)
    download_file(f"{server.url}/a.bin", dest, sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert len(server.requests) == before


def test_resume_from_existing_partial_file(server, tmp_path):
    data = _payload()
    (server.root / "b.bin").write_bytes(data)
    dest = tmp_path / "b.bin"
    (tmp_path / "b.bin.part").write_bytes(data[:123_456])
    download_file(f"{server.url}/b.bin", dest, sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert dest.read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=123456-"


def test_interrupted_download_resumes(server, tmp_path):
    data = _payload()
    (server.root / "c.bin").write_bytes(data)
    dest = tmp_path / "c.bin"
    server.cut_next = 100_000
    with pytest.raises(DownloadError, match="resume"):
        download_file(f"{server.url}/c.bin", dest, progress=False)
    part = tmp_path / "c.bin.part"
    assert part.stat().st_size == 100_000 and not dest.exists()
    download_file(f"{server.url}/c.bin", dest, expected_size=len(data),
                  sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert dest.read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=100000-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    data = _payload()
    (server.root / "d.bin").write_bytes(data)
    server.honour_range = False
    (tmp_path / "d.bin.part").write_bytes(b"garbage" * 100)
    dest = download_file(f"{server.url}/d.bin", tmp_path / "d.bin", md5=hashlib.md5(data).hexdigest(),
                         progress=False)
    assert dest.read_bytes() == data


def test_complete_partial_file_gets_416_and_verifies(server, tmp_path):
    data = _payload(5000)
    (server.root / "e.bin").write_bytes(data)
    (tmp_path / "e.bin.part").write_bytes(data)
    dest = download_file(f"{server.url}/e.bin", tmp_path / "e.bin", sha256=hashlib.sha256(data).hexdigest(),
                         progress=False)
    assert dest.read_bytes() == data


def test_checksum_mismatch_is_an_error_and_leaves_no_file(server, tmp_path):
    (server.root / "f.bin").write_bytes(_payload())
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match=r"sha256 .* expected 0{64}") as caught:
        download_file(f"{server.url}/f.bin", dest, sha256="0" * 64, progress=False)
    assert "f.bin" in str(caught.value)
    assert not dest.exists() and not (tmp_path / "f.bin.part").exists()


def test_size_mismatch_is_an_error(server, tmp_path):
    (server.root / "g.bin").write_bytes(_payload(1000))
    with pytest.raises(DownloadError, match="size"):
        download_file(f"{server.url}/g.bin", tmp_path / "g.bin", expected_size=999, progress=False)


def test_http_404_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match="404") as caught:
        download_file(f"{server.url}/missing.zip", tmp_path / "missing.zip", progress=False)
    assert "/missing.zip" in str(caught.value)


def test_unreachable_host(tmp_path):
    with pytest.raises(DownloadError, match="cannot reach"):
        download_file("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", progress=False, timeout=5)


# ---- archives


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    data = data or {}
    with tarfile.open(path, "w:gz") as tf:
        for member in members:
            payload = data.get(member.name)
            if payload is not None:
                member.size = len(payload)
            tf.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return path


def _file(name):
    return tarfile.TarInfo(name)


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_extract_zip_and_tar(tmp_path):
    archive = _zip(tmp_path / "ok.zip", {"top/meta/a.csv": b"x,y\n", "top/audio/b.wav": b"RIFF"})
    out = extract_archive(archive, tmp_path / "z")
    assert (out / "top" / "meta" / "a.csv").read_bytes() == b"x,y\n"
    tar = _tar(tmp_path / "ok.tar.gz", [_file("top/c.txt"), _link("top/d.txt", "c.txt")], {"top/c.txt": b"hi"})
    out = extract_archive(tar, tmp_path / "t")
    assert (out / "top" / "d.txt").read_bytes() == b"hi"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil_abs.txt", "..\\evil.txt"])
def test_zip_refuses_escaping_names(tmp_path, name):
    archive = _zip(tmp_path / "bad.zip", {"fine.txt": b"ok", name: b"pwned"})
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_archive(archive, dest)
    assert repr(name) in str(caught.value)
    assert not (dest / "fine.txt").exists()  # nothing written before the check failed
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("member", [
    _file("../evil.txt"),
    _file("/tmp/evil_abs_tar.txt"),
    _link("sub/escape", "../../outside"),
    _link("abs_link", "/etc/passwd"),
    _link("hard", "../outside", kind=tarfile.LNKTYPE),
], ids=["dotdot", "absolute", "symlink-up", "symlink-absolute", "hardlink-up"])
def test_tar_refuses_escaping_members(tmp_path, member):
    archive = _tar(tmp_path / "bad.tar.gz", [_file("fine.txt"), member],
                   {"fine.txt": b"ok", "../evil.txt": b"x", "/tmp/evil_abs_tar.txt": b"x"})
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_archive(archive, dest)
    assert repr(member.name) in str(caught.value)
    assert not (dest / "fine.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_tar_refuses_device_members(tmp_path):
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(UnsafeArchiveError, match="'pipe'"):
        extract_archive(_tar(tmp_path / "fifo.tar.gz", [fifo]), tmp_path / "dest")


def test_not_an_archive(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a zip or tar"):
        extract_archive(path, tmp_path / "dest")


def test_completion_marker(tmp_path):
    folder = tmp_path / "dataset"
    assert not is_complete(folder)
    record = mark_complete(folder, {"dataset": "x", "clips": 3})
    assert is_complete(folder) and record["clips"] == 3 and "completed_utc" in record
    (folder / ".complete").write_text("{broken")
    assert not is_complete(folder)
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_unpack_into_takes_the_single_top_folder(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"ESC-50-master/meta/esc50.csv": b"x", "ESC-50-master/audio/1.wav": b"y"})
    dest = unpack_into(archive, tmp_path / "esc50", require="meta/esc50.csv")
    assert sorted(p.name for p in dest.iterdir()) == ["audio", "meta"]
    assert (dest / "audio" / "1.wav").read_bytes() == b"y"


def test_unpack_into_named_top_folder_or_the_archive_root(tmp_path):
    named = _zip(tmp_path / "n.zip", {"audio/train/a.wav": b"a", "audio/validate/b.wav": b"b"})
    assert (unpack_into(named, tmp_path / "one", top="audio") / "train" / "a.wav").read_bytes() == b"a"
    flat = _zip(tmp_path / "f.zip", {"train/a.wav": b"a", "validate/b.wav": b"b"})
    dest = unpack_into(flat, tmp_path / "two", top="audio")
    assert sorted(p.name for p in dest.iterdir()) == ["train", "validate"]


def test_unpack_into_requires_the_named_file(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"UrbanSound8K/audio/fold1/x.wav": b"x"})
    with pytest.raises(RuntimeError, match="does not hold metadata/UrbanSound8K.csv"):
        unpack_into(archive, tmp_path / "us8k", top="UrbanSound8K", require="metadata/UrbanSound8K.csv")
    assert not (tmp_path / "us8k" / ".extracting").exists()
    assert not (tmp_path / "us8k" / "audio").exists()
