"""botocore's data parsed once per process (ops/shared_loader.py): every real session of a
command shares one loader per data path, so the models are parsed once, while a user's
AWS_DATA_PATH still adds models to real sessions and never to the simulator's."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.loaders import Loader

from ops.aws import real_session
from ops.permissions import partition_of
from ops.sim.sessions import isolated_session

STS_MODEL = Path(Loader.BUILTIN_DATA_PATH) / "sts" / "2011-06-15" / "service-2.json.gz"


@pytest.fixture
def custom_service(tmp_path, monkeypatch):
    """A data path with a service of its own (STS's model under another name), as a user
    with private models has."""
    import gzip

    model = json.loads(gzip.decompress(STS_MODEL.read_bytes()))
    model["metadata"].update(endpointPrefix="opsfake", serviceId="opsfake", signingName="opsfake")
    folder = tmp_path / "models" / "opsfake" / "2011-06-15"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    shutil.copy(STS_MODEL.parent / "endpoint-rule-set-1.json.gz", folder)
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "models"))
    return "opsfake"


def test_real_sessions_share_their_parsed_models(monkeypatch):
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    one, two = real_session("us-east-1", None), real_session("eu-west-1", None)
    loader = one._session.get_component("data_loader")
    assert two._session.get_component("data_loader") is loader
    assert loader.load_service_model("ec2", "service-2") is loader.load_service_model("ec2", "service-2")
    assert one.client("ec2").meta.region_name == "us-east-1" and two.client("ec2").meta.region_name == "eu-west-1"
    paths = loader.search_paths
    for _ in range(3):  # boto3 appends its data path to each session's loader: not to this one
        real_session("us-east-1", None)
    assert loader.search_paths == paths
    assert paths[-1].endswith("boto3/data") and str(Path.home() / ".aws" / "models") in paths


def test_a_users_data_path_reaches_real_sessions_and_not_the_simulator(custom_service):
    session = real_session("us-east-1", None)
    assert custom_service in session.get_available_services()
    assert session.client(custom_service).get_caller_identity  # a client of the user's model
    assert custom_service not in isolated_session("us-east-1").get_available_services()
    fresh = boto3.Session(region_name="us-east-1")  # as botocore alone would search
    assert custom_service in fresh.get_available_services()


def test_partitions_are_botocores(monkeypatch):
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    reference = botocore.session.Session()
    for region in ("us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "ap-southeast-7"):
        assert partition_of(region) == reference.get_partition_for_region(region), region


def test_a_simulator_process_parses_the_endpoints_once_for_moto_too():
    """moto makes botocore sessions of its own (its EC2 module, three at import, and one for
    every account backend); in a process that runs the simulator they share one loader, so
    endpoints.json is parsed twice: for the simulator's own sessions (botocore's data only)
    and for every other session (botocore's search paths). Each of moto's parsed it again."""
    script = """
import json, botocore.loaders
parsed = []
load_file = botocore.loaders.JSONFileLoader.load_file
def counting(self, file_path):
    parsed.append(file_path.rsplit("/", 1)[-1])
    return load_file(self, file_path)
botocore.loaders.JSONFileLoader.load_file = counting
import ops.sim.moto_setup
from moto.backends import get_backend
get_backend("ec2")["123456789012"]["us-east-1"]
from ops.sim.sessions import isolated_session
isolated_session("us-east-1").client("ec2")
import boto3
boto3.Session().get_available_regions("ec2")
print(json.dumps(parsed))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout).count("endpoints") == 2
