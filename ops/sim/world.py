"""The simulated AWS account behind a dry run: moto where moto is faithful, fakes where not.

    world = SimWorld(VirtualClock())
    with world:
        ec2 = world.session().client("ec2")

EC2, IAM, DynamoDB, STS and most of SSM are moto's (`moto.mock_aws`). Cloud9 (absent from
moto), ElastiCache (no lifecycle, no endpoint in moto) and SSM Run Command (moto runs
nothing) are fakes answering from botocore event handlers registered on the session, so
real boto3 clients, with their validation, waiters and exception classes, talk to them.
Thin overlays add to moto what a rehearsal needs: DynamoDB tables pass through CREATING and
DELETING, and EC2 refuses to delete a security group something still depends on.

Every lifecycle is derived from `clock.now()`: resources record when they started changing
and their state is settled before each call, so with a VirtualClock a seven-minute cluster
creation is over as soon as the caller has slept seven virtual minutes.

One world at a time per process: moto's mock is process-wide.
"""
import os
import shutil
import tempfile
from typing import Dict, Optional
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES
from botocore.loaders import Loader
from moto import mock_aws

from .base import SimStore, to_datetime, wall_anchor
from .cloud9 import Cloud9Backend
from .dynamodb import DynamoDBOverlay
from .durations import DEFAULT_DURATIONS
from .ec2 import EC2Overlay
from .elasticache import ElastiCacheBackend
from .faults import FaultInjector, FaultPlan
from .network import Attribution
from .ssm import SSMBackend

_DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                      "aws_session_token": "testing"}


class _SharedLoader(Loader):
    """Service models, loaded once per process and shared by every sim session (a fresh
    botocore session would parse the EC2 model again, a second each time), from
    botocore's and boto3's own data only: user models in ~/.aws/models are not searched.
    boto3 appends its data path to each session's loader; the copy returned here makes
    that a no-op, the path being there from the start."""

    @property
    def search_paths(self):
        return list(self._search_paths)


_LOADER = _SharedLoader(extra_search_paths=[Loader.BUILTIN_DATA_PATH,
                                            os.path.join(os.path.dirname(boto3.__file__), "data")],
                        include_default_search_paths=False)


def isolated_session(region: str) -> boto3.Session:
    """A boto3 Session with dummy credentials that ignores the user's environment.

    botocore reads profiles, regions, endpoints, retry settings and more from AWS_*
    variables and ~/.aws; the session is built without any environment variable behind
    its settings, with no config or credentials file, and with configured endpoint URLs
    ignored (AWS_ENDPOINT_URL* are read from os.environ by a separate provider).
    """
    no_env = {name: (config_name, None, default, convert)
              for name, (config_name, _env, default, convert) in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()}
    core = botocore.session.Session(session_vars=no_env)
    core.register_component("data_loader", _LOADER)
    core.set_config_variable("config_file", os.devnull)
    core.set_config_variable("credentials_file", os.devnull)
    core.set_config_variable("ignore_configured_endpoint_urls", True)
    return boto3.Session(botocore_session=core, region_name=region, **_DUMMY_CREDENTIALS)


class SimulatorStopped(RuntimeError):
    pass


class SimWorld:
    # A real account has the AWS managed policies (the lab attaches AWSCloud9SSMInstanceProfile);
    # moto loads its ~1,300 only when asked, which costs about a second per world. Tests that
    # never touch them may switch this off.
    aws_managed_policies = True

    def __init__(self, clock, region: str = "us-east-1", durations: Optional[Dict[str, float]] = None,
                 faults: Optional[FaultPlan] = None):
        unknown = set(durations or {}) - set(DEFAULT_DURATIONS)
        if unknown:
            raise ValueError(f"unknown simulated durations: {', '.join(sorted(unknown))}")
        self.clock = clock
        self.region = region
        self.durations = {**DEFAULT_DURATIONS, **(durations or {})}
        self.store = SimStore()
        self.injector = None
        self.faults = faults
        self.answered = set()  # (service, operation) pairs a fake or overlay answers
        self.attribution = Attribution()  # which local processes act for which instance
        self._mock = None
        self._internal = None
        self._clients = {}
        self.workdir = None
        self.cloud9 = Cloud9Backend(self)
        self.elasticache = ElastiCacheBackend(self)
        self.ssm = SSMBackend(self)
        self.ec2 = EC2Overlay(self)
        self.dynamodb = DynamoDBOverlay(self)
        self._backends = [self.cloud9, self.elasticache, self.ssm, self.ec2, self.dynamodb]

    # lifecycle

    def start(self) -> "SimWorld":
        if self._mock is None:
            self._mock = mock_aws(config={"iam": {"load_aws_managed_policies": self.aws_managed_policies}})
            self._mock.start()
            self.workdir = tempfile.mkdtemp(prefix="ops-sim-")
            self.store.section("meta").update(region=self.region, **wall_anchor(self.clock))
        return self

    def stop(self) -> None:
        if self._mock is None:
            return
        try:
            for backend in self._backends:
                backend.close()
        finally:
            self._mock.stop()
            self._mock = None
            self._internal = None
            self._clients.clear()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "SimWorld":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def started(self) -> bool:
        return self._mock is not None

    # sessions

    def session(self) -> boto3.Session:
        """A fresh Session wired to this world; clients made from it inherit the fakes."""
        if not self.started:
            raise SimulatorStopped("start the SimWorld before asking it for a session")
        session = isolated_session(self.region)
        events = session.events
        events.register("before-call.*.*", self._preflight_moto_call, unique_id="ops-sim-preflight")
        for backend in self._backends:
            backend.register(events)
        events.register_last("before-send", self._refuse_real_request, unique_id="ops-sim-guard")
        return session

    def client(self, service: str):
        """The simulator's own moto client: no fakes, no faults, never the caller's."""
        if not self.started:
            raise SimulatorStopped("the SimWorld is not running")
        with self.store.lock:
            if service not in self._clients:
                if self._internal is None:
                    self._internal = isolated_session(self.region)
                self._clients[service] = self._internal.client(service)
            return self._clients[service]

    @property
    def faults(self) -> Optional[FaultPlan]:
        return self.injector.plan if self.injector else None

    @faults.setter
    def faults(self, plan: Optional[FaultPlan]) -> None:
        """Takes effect at once, for sessions already handed out too."""
        self.injector = FaultInjector(plan, self.store) if plan else None

    # time

    def settle(self) -> None:
        with self.store.lock:
            for backend in self._backends:
                backend.settle()

    def timestamp(self, at: float):
        return to_datetime(self.store.section("meta"), at)

    # event handlers

    def preflight(self, model):
        """Before any call: an injected fault, if one is due, else settle the clock's effects."""
        injector = self.injector
        if injector:
            service_model = model.service_model
            fault = injector.check(service_model.service_id.hyphenize(), model.name, service_model.protocol)
            if fault is not None:
                return fault
        self.settle()
        return None

    def _preflight_moto_call(self, model, **_):
        if (model.service_model.service_id.hyphenize(), model.name) in self.answered:
            return None  # its own handler runs the preflight
        return self.preflight(model)

    def _refuse_real_request(self, request, **_):
        """Last line of defence: nothing made by a sim session may leave the machine.

        moto answers every *.amazonaws.com request while the world runs; anything else
        (an explicit endpoint_url, a stopped world) would otherwise go to the network."""
        host = urlsplit(request.url).hostname or ""
        if not self.started:
            raise SimulatorStopped(f"the SimWorld is stopped; refusing to send {request.url}")
        if not host.endswith(".amazonaws.com"):
            raise SimulatorStopped(f"a dry run never sends requests to {host}")
