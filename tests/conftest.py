"""Suite-wide guards: fake AWS credentials, and no socket may leave loopback.

Every test runs with dummy credentials and with the user's AWS configuration hidden, so
nothing can reach a real account. The network guard records any attempt to connect to a
non-loopback address and fails the test that made it, even if the code swallowed the error.
"""

import gc
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import ops_forkserver
import pytest

from ops.sim.warmstart import ENV_VAR as FORKSERVER_ENV_VAR

AWS_ENV_TO_HIDE = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "OPS_STATE",
)  # ops's own: where records live


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker per core, and one more. Some tests mostly wait (processes taking
    turns on a lock, real-time runs); the spare worker fills those waits with other tests'
    work. Measured on 2 cores: 8m11s, against 9m10s with a worker per core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 1


_FREEZE_EVERY = 10  # tests
_tests_since_freeze = _FREEZE_EVERY - 1  # the first test's imports are frozen at once


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Every few tests (their fixtures torn down): collect their garbage, then freeze whatever
    lives on. Python's full collections walk every object the process has, and a worker holds
    moto's and botocore's models (~350,000 objects): unfrozen, the full collection an
    in-process dry run sets off cost 0.2 s of its 1.6 s. Frozen objects stay alive,
    as they would anyway (modules, caches, session fixtures); each collection then walks
    only what the latest tests made. Not after every test: that collection was 2% of the
    suite's CPU, and a few tests' survivors are little to walk."""
    global _tests_since_freeze
    result = yield
    _tests_since_freeze += 1
    if _tests_since_freeze >= _FREEZE_EVERY:
        _tests_since_freeze = 0
        gc.collect()
        gc.freeze()
    return result


def pytest_collection_modifyitems(config, items):
    """The tests marked `long` first, so that one worker runs them one after the other from
    the start: pytest-xdist's worksteal hands each worker an equal run of the collection,
    which it starts from its head, and takes from the ends of the longest runs for whoever
    runs out. Those tests mostly wait (processes taking turns, real-time leases), so while
    one worker waits in them the others keep the cores busy. Started last, one kept a worker
    busy for 20 s after the others had finished; started at once on every worker, they left
    a third of the CPU idle for a minute."""
    long = [item for item in items if item.get_closest_marker("long")]
    items[:] = long + [item for item in items if not item.get_closest_marker("long")]


class NetworkBlocked(OSError):
    pass


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a name we would have to resolve: not allowed in tests


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch, tmp_path_factory):
    for name in AWS_ENV_TO_HIDE:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("awsconfig")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail the test if any socket tries to reach a non-loopback address."""
    attempts = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_sendto = socket.socket.sendto

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(address)
            raise NetworkBlocked(f"test tried to reach {address} (only loopback is allowed)")

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    def sendto(sock, data, *args):
        check(sock, args[-1])
        return real_sendto(sock, data, *args)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    yield attempts
    assert not attempts, f"non-loopback connections attempted: {attempts}"


@pytest.fixture(scope="session")
def quick_switch_config(tmp_path_factory):
    """A config whose only settings make the dead man's switch's own waits short (the emulator's
    IAM is consistent at once; ops would still wait 10 real seconds for it in every run)."""
    import yaml
    from harness import QUICK_SWITCH_EXPECTED

    path = tmp_path_factory.mktemp("config") / "quick-switch.yaml"
    path.write_text(yaml.safe_dump({"expected": QUICK_SWITCH_EXPECTED}))
    return path


@pytest.fixture
def emulator(monkeypatch, quick_switch_config):
    """A moto server on 127.0.0.1 standing in for AWS, reached through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("OPS_CONFIG", str(quick_switch_config))  # a --config of the test's own wins
    # moto's server has no Cloud9 and answers its calls 500: a listing of every kind (ops sweep)
    # would retry each the default 8 times; the emulator never throttles or drops a call
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    yield url
    server.stop()


@pytest.fixture
def world():
    """An in-process simulated account on a virtual clock, gone after the test."""
    from ops.clock import VirtualClock
    from ops.sim.world import SimWorld

    with SimWorld(VirtualClock()) as w:
        yield w


@pytest.fixture
def aws(world):
    """ops's client factory on that account, as a dry run uses it."""
    from ops.aws import Aws

    return Aws(world.session(), world.region, world.clock, dry_run=True)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty directory, so .ops/ state lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def no_simulated_account_left_running(request):
    """A test that kept a dry-run lab up (--keep, a kill) must not leave its simulator running."""
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is None:
        return
    homes = list(root.glob("**/.ops/dry-run/account"))
    if homes:
        from ops.sim.world import SimWorld

        for home in homes:
            SimWorld.destroy(home)


def _start_simulator_forkserver(folder: str):
    """The simulator's forkserver, started: its socket, its process, and a function that
    waits until it is ready (its warm-up overlaps the ops forkserver's)."""
    path = os.path.join(folder, "sim")
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.sim.forkserver", "--socket", path, "--parent", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )

    def ready() -> None:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n", "the forkserver did not start"

    return path, process, ready


_FORKSERVERS = pytest.StashKey[list]()


def pytest_configure(config):
    """The `long` marker (see pytest_collection_modifyitems), and the suite's two
    forkservers, started once per test run by the process that runs it
    (pytest-xdist's controller, whose environment its workers inherit), not once per worker:
    each imports moto or ops before it forks, ~4 s of CPU a worker would spend again.

    - Every simulated account's server is forked from one that has imported moto already
      (ops/sim/forkserver.py): about 4 s of CPU saved per account. tests/sim/test_forkserver.py
      checks both ways of starting one.
    - Every ops process a test starts through tests/ops_forkserver.py (harness.start_ops, the
      kill points of test_crash_points.py, ...) is forked from one that has imported ops,
      click and boto3 and parsed the lab's service models: about a second of CPU saved per
      process. tests/test_ops_forkserver.py checks that a forked ops is a cold one's equal,
      and that ops starts cold when the forkserver is gone."""
    config.addinivalue_line(
        "markers", "long: takes 8 s or more, mostly waiting; run first, one after the other by one worker"
    )
    if hasattr(config, "workerinput"):
        return  # a worker: the controller started them
    folder = tempfile.mkdtemp(prefix="ops-fork-")  # short: a Unix socket's path is ~100 bytes at most
    sim_path, sim, sim_ready = _start_simulator_forkserver(folder)
    ops_path = os.path.join(folder, "ops")
    cli = ops_forkserver.launch(ops_path)  # both warm up at once (4 s and 2 s of CPU, on 2 cores)
    sim_ready()
    os.environ[FORKSERVER_ENV_VAR] = sim_path
    os.environ[ops_forkserver.ENV_VAR] = ops_path
    config.stash[_FORKSERVERS] = [folder, sim, cli]


def pytest_unconfigure(config):
    started = config.stash.get(_FORKSERVERS, None)
    if not started:
        return
    folder, *processes = started
    os.environ.pop(FORKSERVER_ENV_VAR, None)
    os.environ.pop(ops_forkserver.ENV_VAR, None)
    for process in processes:
        process.terminate()
        process.wait()
        process.stdout.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def warm_simulator_servers():
    """The simulator forkserver's socket (pytest_configure started it)."""
    return os.environ[FORKSERVER_ENV_VAR]
