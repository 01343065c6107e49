"""A real JupyterHub on 127.0.0.1 for the classroom test and benchmark (not a mock).

JupyterHub (the `classroom` extra) with its proxy, configurable-http-proxy from npm
(hub-proxy/, `make hub-proxy`); SimpleLocalProcessSpawner, JupyterHub's own spawner for tests
(every user's server runs as the current user, with its own home folder); DummyAuthenticator;
an API token for a test service with the admin scopes it needs. Learners act through the
hub's public address only, as a browser would: the REST API, the nbgitpuller link, the
single-user server's kernel API and the kernel's websocket, all through the proxy.

    with running_hub(tmp_path, cache_dir=...) as hub:
        hub.create_users(["ada", "grace"])
        hub.start_servers(["ada", "grace"])
        learner = hub.learner("ada")          # the user's own token
        learner.run(code)                     # in a new kernel on their server

`running_hub` stops every server, then the hub (which stops its proxy), and checks that every
process it started has gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PROXY_VARIABLE = "COURSE_HUB_PROXY"
LOCAL_PROXY = ROOT / "hub-proxy" / "node_modules" / ".bin" / "configurable-http-proxy"


def proxy_command() -> str | None:
    """configurable-http-proxy: $COURSE_HUB_PROXY, hub-proxy/ (`make hub-proxy`), or on PATH."""
    for candidate in (os.environ.get(PROXY_VARIABLE), LOCAL_PROXY, shutil.which("configurable-http-proxy")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CONFIG = """
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.pid_file = {workdir!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {workdir!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {workdir!r} + "/cookie_secret"
c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + "/{{username}}"
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 600
c.Spawner.environment = {environment!r}
c.JupyterHub.services = [{{"name": "course-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "course-test",
    "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users"],
    "services": ["course-test"],
}}]
"""


def _json_or_none(response):
    return response.json() if response.content else None


@dataclass
class Learner:
    """One user of the hub, acting with their own token through the hub's public address."""

    hub: Hub
    name: str
    token: str
    reconnections: int = 0  # kernel websockets that dropped and were reconnected (see `run`)

    @property
    def server_url(self) -> str:
        return f"{self.hub.url}/user/{self.name}"

    def browser(self):
        """A logged-in browser session: the hub's login form (DummyAuthenticator takes any
        password), with the cookies and the XSRF field a browser would send."""
        import requests

        session = requests.Session()
        session.get(f"{self.hub.url}/hub/login", timeout=120).raise_for_status()
        form = {"username": self.name, "password": "any", "_xsrf": session.cookies.get("_xsrf", "")}
        response = session.post(f"{self.hub.url}/hub/login", data=form, timeout=300)
        response.raise_for_status()
        return session

    def pull(self, link: str) -> list[dict]:
        """Follow an nbgitpuller link as a learner's browser does: log in, follow the redirects
        (hub, then OAuth to the learner's server) to the status page, then open the event stream
        that page's script opens (git-pull/api with the same query) until it finishes."""
        session = self.browser()
        page = session.get(link, timeout=300)
        page.raise_for_status()
        if f"/user/{self.name}/git-pull?" not in page.url:
            raise AssertionError(f"the link led to {page.url}, not the learner's git-pull page")
        query = page.url.split("?", 1)[1]
        events = []
        with session.get(f"{self.server_url}/git-pull/api?{query}", stream=True, timeout=300) as stream:
            stream.raise_for_status()
            for line in stream.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    events.append(json.loads(line[len("data: ") :]))
                    if events[-1].get("phase") in ("finished", "error"):
                        break
        return events

    def start_kernel(self) -> str:
        import requests

        response = requests.post(
            f"{self.server_url}/api/kernels", json={"name": "python3"},
            headers={"Authorization": f"token {self.token}"}, timeout=300,
        )
        response.raise_for_status()
        return response.json()["id"]

    def stop_kernel(self, kernel_id: str) -> None:
        import requests

        requests.delete(
            f"{self.server_url}/api/kernels/{kernel_id}", headers={"Authorization": f"token {self.token}"}, timeout=120
        ).raise_for_status()

    def run(self, code: str, kernel_id: str | None = None, timeout: float = 900) -> str:
        """Run `code` in a kernel over its websocket (the protocol JupyterLab speaks); its stdout.

        As JupyterLab does, the connection names its session (``session_id``), and if the
        websocket drops it reconnects with the same session: the server buffers the kernel's
        messages meanwhile and replays them (jupyter_server's message buffering), so nothing the
        code prints is lost. Each reconnection is counted in `reconnections`.

        Raises RuntimeError with the traceback if the code fails.
        """
        import websocket

        kernel_id = kernel_id or self.start_kernel()
        session = uuid.uuid4().hex
        url = (f"{self.server_url.replace('http://', 'ws://')}/api/kernels/{kernel_id}/channels"
               f"?session_id={session}")
        msg_id = uuid.uuid4().hex
        request = json.dumps({
            "header": {"msg_id": msg_id, "username": self.name, "session": session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        })
        output: list[str] = []
        deadline, attempt = time.monotonic() + timeout, 0
        while True:
            connection = websocket.create_connection(
                url, header=[f"Authorization: token {self.token}"], timeout=max(deadline - time.monotonic(), 1))
            try:
                if attempt == 0:
                    connection.send(request)
                return self._read_until_idle(connection, msg_id, output, deadline)
            except websocket.WebSocketConnectionClosedException:
                attempt += 1
                self.reconnections += 1
                if attempt > RECONNECTIONS:
                    raise RuntimeError(
                        f"{self.name}'s kernel connection dropped {attempt} times; the hub's log ends:\n"
                        + self.hub.log_tail()) from None
            finally:
                connection.close()

    def _read_until_idle(self, connection, msg_id: str, output: list[str], deadline: float) -> str:
        """The kernel's messages for `msg_id` until it is idle again: its stdout. TimeoutError
        past `deadline` (time.monotonic()), even while the server's pings keep the socket alive."""
        import websocket

        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}'s kernel was not idle again in time; the hub's log ends:\n"
                                   + self.hub.log_tail())
            opcode, data = connection.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise websocket.WebSocketConnectionClosedException("the server closed the kernel's websocket")
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue  # a message with binary buffers: the explorer's PNG for the page
            message = json.loads(data)
            if message.get("parent_header", {}).get("msg_id") != msg_id or message.get("channel") != "iopub":
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content.get("name") == "stdout":
                output.append(content["text"])
            elif kind == "error":
                raise RuntimeError(f"{self.name}'s kernel: " + "\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(output)


#: How often a learner's run reconnects a dropped kernel websocket before it gives up.
RECONNECTIONS = 3


@dataclass
class Hub:
    url: str
    token: str
    process: subprocess.Popen
    homes: Path
    leftovers: list[int] | None = None  # after the hub stopped: its processes that had not exited

    def api(self, method: str, path: str, **body):
        import requests

        response = requests.request(
            method, f"{self.url}/hub/api{path}", json=body or None,
            headers={"Authorization": f"token {self.token}"}, timeout=120,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return _json_or_none(response)

    def create_users(self, names: list[str]) -> None:
        self.api("POST", "/users", usernames=names)

    def start_servers(self, names: list[str], timeout: float = 900) -> None:
        """Ask for every server at once (as a class arriving does), then wait until all are ready."""
        for name in names:
            self.api("POST", f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"servers not ready after {timeout:.0f} s: {sorted(waiting)}")
            for name in sorted(waiting):
                server = (self.api("GET", f"/users/{name}")["servers"] or {}).get("")
                if server and server.get("ready"):
                    waiting.discard(name)
            time.sleep(1)

    def stop_servers(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(RuntimeError):
                self.api("DELETE", f"/users/{name}/server")

    def log_tail(self, characters: int = 4000) -> str:
        """The end of the hub's log, which holds its servers' and kernels' logs too."""
        log = self.homes.parent / "jupyterhub.log"
        return log.read_text(errors="replace")[-characters:] if log.is_file() else "(no log)"

    def learner(self, name: str) -> Learner:
        token = self.api("POST", f"/users/{name}/tokens", note="classroom test", expires_in=3600)["token"]
        return Learner(self, name, token)

    def descendants(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.process.pid).children(recursive=True)
        return []


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterHub exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{url}/hub/api/", timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"JupyterHub not up after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running_hub(workdir: Path, *, cache_dir: Path, proxy: str) -> Iterator[Hub]:
    """A hub in `workdir` whose learners' kernels share the weight cache in `cache_dir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    homes = workdir / "homes"
    homes.mkdir(exist_ok=True)
    token = secrets.token_hex(16)
    environment = {"COURSE_WEIGHT_CACHE": str(cache_dir), "OPENBLAS_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    # A development checkout run with PYTHONPATH (or packages installed with pip --target):
    # the learners' servers see the same course_utils and the same server extensions.
    for variable in ("PYTHONPATH", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH"):
        if os.environ.get(variable):
            environment[variable] = os.environ[variable]
    port = free_port()
    config = workdir / "jupyterhub_config.py"
    config.write_text(textwrap.dedent(CONFIG).format(
        port=port, hub_port=free_port(), proxy_api_port=free_port(), proxy=proxy, workdir=str(workdir),
        homes=str(homes), python=sys.executable, environment=environment, token=token,
        # CI runs as root, where a Jupyter server refuses to start unless told it may. Websocket
        # pings off: in CI a server closed a learner's kernel connection while 8 kernels loaded at
        # once on 2 cores, and an unanswered ping (30 s) is what makes it close a live one.
        args=(["--allow-root"] if os.geteuid() == 0 else []) + ["--ServerApp.websocket_ping_interval=0"],
    ))
    log = workdir / "jupyterhub.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    hub = Hub(f"http://127.0.0.1:{port}", token, process, homes)
    try:
        _wait_until_up(hub.url, process, log)
        yield hub
    finally:
        started = hub.descendants()
        with contextlib.suppress(Exception):
            users = [user["name"] for user in hub.api("GET", "/users") or []]
            hub.stop_servers(users)
        process.send_signal(signal.SIGTERM)  # the hub stops the servers left and its proxy
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _gone, alive = psutil.wait_procs(started, timeout=60)
        for leftover in alive:  # ours, by their ids: the hub should have stopped them
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        hub.leftovers = [p.pid for p in alive]


#: The learners of the classroom test and benchmark.
LEARNERS = [f"learner{i}" for i in range(1, 9)]


def lesson_03_code(temperatures) -> str:
    """Lesson 03's code as a learner runs it: the model, the temperature explorer, the slider moved
    to each of `temperatures`; the kernel prints one JSON line (pid, weights file, load and update
    times, the last readout)."""
    return f"""
import json, os, time
from course_utils.model import load_model
from course_utils.widgets import TemperatureExplorer
started = time.perf_counter()
model = load_model()
loaded = time.perf_counter()
explorer = TemperatureExplorer(model, prompt="The capital of France is", temperature=1.0)
updates = []
for temperature in {list(temperatures)!r}:
    start = time.perf_counter()
    explorer.set(temperature=temperature)
    updates.append(time.perf_counter() - start)
print(json.dumps({{"pid": os.getpid(), "weights_file": str(model.weights_file), "load_s": loaded - started,
                  "updates_s": updates, "readout": explorer.readout_text}}))
"""

