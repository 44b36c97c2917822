"""The simulated AWS account behind a dry run: moto where moto is faithful, fakes where not.

    world = SimWorld(VirtualClock())
    with world:
        ec2 = world.session().client("ec2")

EC2, IAM, DynamoDB, STS and most of SSM are moto's (`moto.mock_aws`). Cloud9 (absent from
moto), ElastiCache (no lifecycle, no endpoint in moto) and SSM Run Command (moto runs
nothing) are fakes answering on the simulated network (transport.py) in each service's wire
protocol, so real boto3 clients, with their validation, retries, waiters and exception
classes, talk to them.
Thin overlays add to moto what a rehearsal needs: DynamoDB tables pass through CREATING and
DELETING, and EC2 refuses to delete a security group something still depends on.

Every lifecycle is derived from the account's time, `now()` (its clock's, shifted so that a
--realtime process goes on from the account's last instant): resources record when they started changing
and their state is settled before each call, so with a VirtualClock a seven-minute cluster
creation is over as soon as the caller has slept seven virtual minutes.

One in-process world at a time per process: moto's mock is process-wide.

With `home` (a folder), the world is persistent: the account outlives the process.

    world = SimWorld(VirtualClock(), home=Path(".ops/dry-run/account"))

- `start()` finds the account's server (server.py: moto on a 127.0.0.1 port, plus the
  endpoints' gates), or starts it detached; the transport sends the world's sessions'
  requests to it, after botocore has validated and signed them with the account's own keys
  (the server answers no one else: account_keys.py). The hosts' `aws`
  shim (hostcli.py) asks this process, which asks the server with the same keys.
- The fakes' state is HOME/store.json, loaded and saved by every call under a file lock
  (persist.py). The clock's time is kept with it (HOME/store.time), and a new process's
  VirtualClock is first advanced to it, so lifecycles continue where they stopped.
- Each available cluster's Redis runs detached, behind a gate in the server (endpoints.py).
- `stop()` leaves all that running; `SimWorld.destroy(home)` ends it and removes HOME.
- moto's state lives only in the server's memory: if the server is gone (a reboot, a
  kill), `start()` raises SimAccountLost and the account can only be destroyed.
"""

import contextlib
import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional

import boto3
from botocore import xform_name
from moto.core.models import botocore_stubber

from ..clock import wall_time
from ..paths import private_dir
from .account_keys import SIGNED_URL_HEADER
from .base import SimStore, to_datetime, wall_anchor
from .cloud9 import Cloud9Backend
from .cloud9_members import Cloud9Memberships
from .durations import DEFAULT_DURATIONS
from .dynamodb import DynamoDBOverlay
from .ec2 import EC2Overlay, connect_default_vpc
from .elasticache import ElastiCacheBackend
from .endpoints import DetachedEndpoints, InProcessEndpoints
from .faults import FaultInjector, FaultPlan
from .iam import IAMOverlay
from .local_redis import PIDFILE
from .network import Attribution, SharedAttribution
from .persist import STORE_FILE, PersistentStore
from .processes import belongs_to, terminate
from .scheduler import SchedulerBackend
from .server import SERVER_FILE, SimServer
from .sessions import isolated_session
from .ssm import SSMBackend
from .transport import SimulatorStopped, Transport, check_destination, server_url, unchecked_signer

if TYPE_CHECKING:
    from moto.core.models import MockAWS


class SimAccountLost(RuntimeError):
    """A persistent account whose server ended: its moto state (EC2, IAM, DynamoDB) is gone."""


class SimWorld:
    # A real account has the AWS managed policies (the lab attaches AWSCloud9SSMInstanceProfile);
    # moto loads its ~1,300 only when asked, which costs over 0.1 s per world (moto_setup.py).
    # Tests that never touch them may switch this off.
    aws_managed_policies = True

    def __init__(
        self,
        clock,
        region: str = "us-east-1",
        durations: Optional[Dict[str, float]] = None,
        faults: Optional[FaultPlan] = None,
        home: Optional[Path] = None,
    ):
        unknown = set(durations or {}) - set(DEFAULT_DURATIONS)
        if unknown:
            raise ValueError(f"unknown simulated durations: {', '.join(sorted(unknown))}")
        self.clock = clock
        self.region = region
        self.durations = {**DEFAULT_DURATIONS, **(durations or {})}
        self.home = Path(home).resolve() if home is not None else None
        self.store = PersistentStore(self.home) if self.home else SimStore()
        self.injector: Optional[FaultInjector] = None
        self.faults = faults
        # which local processes act for which instance
        self.attribution = SharedAttribution(self.home / "attribution") if self.home else Attribution()
        self.endpoints = DetachedEndpoints(self) if self.home else InProcessEndpoints(self)
        self.server: Optional[SimServer] = None  # a persistent account's, once started
        self._mock: Optional["MockAWS"] = None
        self._running = False
        self._internal: Optional[boto3.Session] = None
        self._clients: Dict[str, Any] = {}  # botocore clients
        self._clients_lock = threading.Lock()
        self._vpc_connected = False
        self._vpc_lock = threading.Lock()
        self._acting_at: Optional[float] = None
        self._offset = 0.0  # what the account's time is ahead of this process's clock
        self.workdir: Optional[str] = None  # set by start()
        self.cloud9 = Cloud9Backend(self)
        self.elasticache = ElastiCacheBackend(self)
        self.ssm = SSMBackend(self)
        self.ec2 = EC2Overlay(self)
        self.dynamodb = DynamoDBOverlay(self)
        self.iam = IAMOverlay(self)
        self.scheduler = SchedulerBackend(self)
        self._backends = [
            self.cloud9,
            Cloud9Memberships(self),
            self.elasticache,
            self.ssm,
            self.ec2,
            self.dynamodb,
            self.iam,
            self.scheduler,
        ]
        # (service, operation) -> the backend that answers it, or amends moto's answer
        self.answering = {(b.service, op): b for b in self._backends for op in b.operations}
        self.amending = {(b.service, op): b for b in self._backends for op in b.amended}
        self.transport = Transport(self)

    # lifecycle

    def start(self) -> "SimWorld":
        if self._running:
            return self
        if self.home:
            self._open_account()
        else:
            from moto import mock_aws  # here: a persistent account's process needs no moto of its own

            from . import moto_setup

            self._mock = mock = mock_aws(config=moto_setup.configure(self.aws_managed_policies))
            mock.start()
            self.workdir = tempfile.mkdtemp(prefix="ops-sim-")
            self.store.section("meta").update(region=self.region, **wall_anchor(self.clock))
        for backend in self._backends:  # an empty account's state, rather than none
            self.store.section(backend.service)
        self._running = True
        self._vpc_connected = False
        return self

    def _open_account(self) -> None:
        """Reach (or start) the account's server, then resume the account where it was left."""
        home, store = self.home, self.store
        if home is None or not isinstance(store, PersistentStore):
            raise RuntimeError("only a persistent account (SimWorld(home=...)) is opened from disk")
        private_dir(home)  # .ops/ and the folders below it too
        home.chmod(0o700)
        self.server = server = SimServer.find_or_start(home, self.aws_managed_policies)
        self.workdir = str(home)
        with store.lock:
            meta = self.store.section("meta")
            if meta and meta["server"] != server.id:
                raise SimAccountLost(
                    f"the simulated account in {self.home} lost its server (and with it its EC2, "
                    "IAM and DynamoDB resources); discard it (SimWorld.destroy)"
                )
            if meta and meta["region"] != self.region:
                raise ValueError(f"the simulated account in {self.home} is in {meta['region']}, not {self.region}")
            if not meta:
                meta.update(region=self.region, server=server.id, **wall_anchor(self.clock))
            now = store.saved_time()
            if now is None:  # a new account, or one kept before store.time (its time in meta)
                now = meta.get("now", self.clock.now())
            _catch_up(meta, now)
            if self.clock.virtual:
                self.clock.advance_to(now)
            else:  # a --realtime run's clock reads the machine's uptime: the account's time goes on from its own
                self._offset = now - self.clock.now()
            store.now = self._clock_now

    def _clock_now(self) -> float:
        """The account's time, on this process's clock."""
        return self.clock.now() + self._offset

    def stop(self) -> None:
        if not self._running:
            return
        try:
            for backend in self._backends:
                backend.close()
        finally:
            self._running = False
            self._internal = None
            for client in self._clients.values():
                client.close()  # its connections to a persistent account's server
            self._clients.clear()
            self.transport.close()
            if isinstance(self.store, PersistentStore):  # i.e. self.home
                self.store.write_ahead()  # the clock's time, for the next process
                self.store.close()
            else:
                mock, self._mock = self._mock, None
                if mock is not None:  # start() set both
                    mock.stop()
                if self.workdir is not None:
                    shutil.rmtree(self.workdir, ignore_errors=True)

    @classmethod
    def destroy(cls, home: Path) -> None:
        """Discard a persistent account: stop its server and every Redis it started, and
        remove `home`. Worlds still open on it fail on their next call."""
        home = Path(home).resolve()
        if not home.is_dir():
            return
        for pid in _account_pids(home):
            if belongs_to(pid, home):
                terminate(pid)
        shutil.rmtree(home, ignore_errors=True)

    def __enter__(self) -> "SimWorld":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def started(self) -> bool:
        return self._running

    def tls_files(self) -> Dict[str, str]:
        """The CA, server certificate and key of the account's TLS endpoints (made on first use,
        in the world's folder: a persistent account's home, or the temporary one)."""
        from .tls import ensure_certificates

        if self.workdir is None:
            raise SimulatorStopped("start the SimWorld before asking for its TLS files")
        return ensure_certificates(Path(self.workdir) / "tls")

    @property
    def ca_file(self) -> str:
        """What a client of a TLS endpoint trusts in a dry run (on AWS: the system's CAs)."""
        return self.tls_files()["ca"]

    # sessions

    def session(self) -> boto3.Session:
        """A fresh Session wired to this world: its clients' requests go to the transport.
        They make one attempt per call unless their own Config says otherwise (ops.aws.Aws's
        clients retry on the run's clock; botocore's own retries would sleep in real time)."""
        if not self.started:
            raise SimulatorStopped("start the SimWorld before asking it for a session")
        session = self._isolated_session(attempts=1)
        events = session.events
        events.register("before-parameter-build", self.transport.stash_call, unique_id="ops-sim-stash")
        # the transport asks moto itself, after the faults and fakes: moto's own before-send
        # hook would apply every request a second time
        events.unregister("before-send", botocore_stubber)
        events.register_first("before-send", self.transport, unique_id="ops-sim-transport")
        events.register_first("choose-signer", self.transport.choose_signer, unique_id="ops-sim-signer")
        return session

    def client(self, service: str):
        """The simulator's own moto client: no fakes, no faults, never the caller's."""
        if not self.started:
            raise SimulatorStopped("the SimWorld is not running")
        with self._clients_lock:
            if service not in self._clients:
                internal = self._internal
                if internal is None:
                    self._internal = internal = self._isolated_session()
                    internal.events.register_last("before-send", self._route_request, unique_id="ops-sim-guard")
                    internal.events.register_first("choose-signer", self._choose_signer, unique_id="ops-sim-signer")
                client = internal.client(service)
                client.exceptions  # noqa: B018  (built once, under the lock: see ops.aws.Aws._client)
                self._clients[service] = client
            return self._clients[service]

    def _isolated_session(self, attempts: Optional[int] = None) -> boto3.Session:
        if self.server is None:
            return isolated_session(self.region, attempts=attempts)
        return isolated_session(self.region, direct=True, keys=self.server.keys, attempts=attempts)

    @property
    def faults(self) -> Optional[FaultPlan]:
        return self.injector.plan if self.injector else None

    @faults.setter
    def faults(self, plan: Optional[FaultPlan]) -> None:
        """Takes effect at once, for sessions already handed out too."""
        self.injector = FaultInjector(plan, self.store) if plan else None

    # time

    def before_network_call(self, service: str) -> None:
        """Give the default VPC its internet gateway (ec2.py) before the first call that could
        see it or depend on it: made lazily, as most in-process worlds of the tests never ask."""
        if not self._vpc_connected and service in ("ec2", "ssm"):
            with self._vpc_lock:
                if not self._vpc_connected:
                    connect_default_vpc(self)
                    self._vpc_connected = True

    def settle(self) -> None:
        with self.store.lock:
            for backend in self._backends:
                backend.settle()

    def timestamp(self, at: float):
        return to_datetime(self.store.section("meta"), at)

    def now(self) -> float:
        """The account's time on its clock: the clock's, or, while a schedule that fell due
        earlier runs, that earlier instant (what it starts, such as a deletion, started then)."""
        return self._clock_now() if self._acting_at is None else self._acting_at

    @contextlib.contextmanager
    def acting_at(self, at: float) -> Iterator[None]:
        self._acting_at = min(at, self._clock_now())
        try:
            yield
        finally:
            self._acting_at = None

    def calendar(self) -> float:
        """The account's calendar now (seconds since the epoch): what its schedules run by, and
        what a dry run's clock reads as the wall time (ops.engine.target aligns them)."""
        return self.timestamp(self._clock_now()).timestamp()

    def service_model(self, service: str):
        """botocore's model of a service (its operations and their input shapes)."""
        return self.client(service).meta.service_model

    def invoke(self, service: str, operation: str, params: dict) -> dict:
        """Call an operation inside the account, as a service acting in it does (EventBridge
        Scheduler's targets): the fake's answer, else moto's, with the overlays' amendments;
        no fault plan. An error answer is raised (SimError, or botocore's ClientError)."""
        backend = self.answering.get((service, operation))
        if backend is not None:
            answer = backend.answer(operation, params)
            if answer is not None:
                return answer
        client = self.client(service)
        parsed = getattr(client, xform_name(operation))(**params)
        amender = self.amending.get((service, operation))
        if amender is not None:
            amender.amend(operation, params, parsed)
        return parsed

    def _choose_signer(self, event_name: str, **_):
        return unchecked_signer(self, event_name.split(".")[1])

    def _route_request(self, request, **_):
        """The simulator's own clients' requests: moto answers them in-process while the world
        runs; a persistent world sends them to its server. Nothing else leaves the machine."""
        check_destination(self, request.url)
        if self.server is not None:
            request.headers[SIGNED_URL_HEADER] = request.url  # for the server's check of the signature
            request.url = server_url(request.url, self.server.port)


def _catch_up(meta: Dict[str, Any], now: float) -> None:
    """Calendar time passes for an account nobody is using: when this process's calendar is
    ahead of the account's (simulated time only moves while ops works), the account's
    calendar jumps to it, so what was due meanwhile (a schedule) is due now. Its clock, and
    with it every lifecycle, does not move."""
    behind = wall_time() - to_datetime(meta, now).timestamp()
    if behind > 0:
        meta["epoch"] += behind


def _account_pids(home: Path):
    """Every process a persistent account may have left running: its server, and each
    Redis (from the store, and from the pid files Redis writes itself, in case a process
    died before saving the store)."""
    pids = set()
    try:
        pids.add(json.loads((home / SERVER_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        pass
    try:
        clusters = json.loads((home / STORE_FILE).read_text()).get("elasticache", {}).get("clusters", {})
        pids.update(c["local_redis"]["pid"] for c in clusters.values() if (c.get("local_redis") or {}).get("pid"))
    except (OSError, ValueError):
        pass
    for pidfile in home.glob(f"redis/*/{PIDFILE}"):
        try:
            pids.add(int(pidfile.read_text()))
        except (OSError, ValueError):
            continue
    return pids
