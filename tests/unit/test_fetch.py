"""Data set-up: what each chapter needs, one clear message offline, and the real download path
(torchvision's mirrors, archives and checksums) proven against a local HTTP server."""
import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import threading

import pytest

from course_utils import config, data
from course_utils.data import fetch


def test_needed_datasets_per_chapter():
    assert fetch.needed([2, 7]) == ["mnist"]
    assert fetch.needed([1, 10]) == ["fashion-mnist", "mnist"]
    assert fetch.needed(None) == ["fashion-mnist", "mnist"]
    with pytest.raises(ValueError, match=r"unknown chapter\(s\) \[13\]"):
        fetch.needed([13])


def test_present_data_passes_the_check():
    assert fetch.ensure([1, 2], download=False) == ["fashion-mnist", "mnist"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_stops_at_once_with_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "mirrors", lambda name: [f"http://127.0.0.1:{_closed_port()}/"])
    with pytest.raises(data.DataMissingError) as err:   # a hang is caught by the test's timeout
        fetch.ensure([2], root=tmp_path)
    text = str(err.value)
    for part in ["no download mirror of mnist answered", str(tmp_path / "MNIST" / "raw"),
                 "train-images-idx3-ubyte: missing", "make data", "data prepare mnist", "COURSE_DATA"]:
        assert part in text, part


def test_a_damaged_file_is_named(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.CHECKSUMS["mnist"]:
        shutil.copy(config.data_root() / "MNIST" / name, raw.parent / name)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"not mnist")
    with pytest.raises(data.DataMissingError, match=r"t10k-labels-idx1-ubyte: corrupt \(md5"):
        fetch.ensure([2], root=tmp_path, download=False)


@pytest.fixture
def mnist_mirror(tmp_path, monkeypatch):
    """A local mirror serving MNIST's four archives gzipped, as the real mirrors do, with
    torchvision's mirror list and archive checksums pointed at it."""
    import torchvision.datasets as tvd

    served = tmp_path / "mirror"
    served.mkdir()
    resources = []
    for name in data.CHECKSUMS["mnist"]:
        raw = config.data_root() / "MNIST" / name
        gz = served / (raw.name + ".gz")
        gz.write_bytes(gzip.compress(raw.read_bytes(), compresslevel=1, mtime=0))
        resources.append((gz.name, hashlib.md5(gz.read_bytes()).hexdigest()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(tvd.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    yield server
    server.shutdown()


def test_download_path_through_a_local_mirror(tmp_path, mnist_mirror):
    root = tmp_path / "data"
    assert fetch.ensure([2, 7], root=root) == ["mnist"]
    # the extracted files are verified against the original MNIST files' MD5s
    assert fetch.problems("mnist", root) == {}
    test = data.load("mnist", "test", root=root)
    assert len(test) == 10_000 and test.images.dtype.is_floating_point is False
