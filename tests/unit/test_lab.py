"""`make lab`'s pieces: the looking-inside kernel, a JupyterLab server on a loopback port that
opens a chapter through the contents API and imports course_utils in that kernel."""
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from course_utils.book import runner
from course_utils.book.cli import KERNEL_NAME, install_kernel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


async def _run_in_kernel(ws_url: str, code: str, timeout: float = 120) -> tuple[dict, str]:
    """Execute ``code`` over the kernel's websocket; the execute_reply content and its stdout."""
    from tornado.websocket import websocket_connect

    ws = await asyncio.wait_for(websocket_connect(ws_url), timeout=30)
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                   "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    out, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(ws.read_message(), timeout=deadline - time.monotonic())
            assert raw is not None, "the kernel websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            if msg["msg_type"] == "execute_reply":
                return msg["content"], "".join(out)
        raise TimeoutError("no execute_reply")
    finally:
        ws.close()


def test_lab_serves_a_chapter_and_imports_course_utils_in_the_books_kernel(tmp_path):
    prefix = tmp_path / "prefix"
    spec = Path(install_kernel(str(prefix)))
    assert spec.name == KERNEL_NAME and json.loads((spec / "kernel.json").read_text())["argv"][0] == sys.executable
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               PYTHONPATH=str(runner.NOTEBOOK_DIR.parent))
    lab = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={runner.NOTEBOOK_DIR}"] + (["--allow-root"] if os.geteuid() == 0 else [])
    server = subprocess.Popen(lab, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    base, auth = f"http://127.0.0.1:{port}", f"token={token}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"JupyterLab exited: {server.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
            try:
                _get(f"{base}/api/status?{auth}")
                break
            except OSError:
                time.sleep(0.5)
        chapter = _get(f"{base}/api/contents/03_pca.ipynb?content=1&{auth}")
        assert chapter["type"] == "notebook"
        assert chapter["content"]["metadata"]["kernelspec"]["name"] == KERNEL_NAME
        assert any("parameters" in c["metadata"].get("tags", []) for c in chapter["content"]["cells"])
        assert KERNEL_NAME in _get(f"{base}/api/kernelspecs?{auth}")["kernelspecs"]
        session = _get(f"{base}/api/sessions?{auth}", "POST",
                       {"path": "03_pca.ipynb", "type": "notebook", "kernel": {"name": KERNEL_NAME}})
        assert session["kernel"]["name"] == KERNEL_NAME
        ws_url = f"ws://127.0.0.1:{port}/api/kernels/{session['kernel']['id']}/channels?{auth}"
        reply, out = asyncio.run(_run_in_kernel(ws_url, "import course_utils, sys\n"
                                                        "print(course_utils.config.mode(), sys.executable)"))
        assert reply["status"] == "ok", reply
        assert out.split()[-1] == sys.executable and out.split()[0] in ("fast", "full")
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it shuts its kernels down), SIGKILL after 30 s."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
            server.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
