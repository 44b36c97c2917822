"""boto3 sessions for a simulated account that ignore the user's AWS settings.

`isolated_session(region, direct, keys)` is what every simulator-side client is made from:
the dry run's own sessions (world.py), the server's gates asking its EC2 (server.py) and
the clients moto_setup.py builds ahead of time. Its sessions share one loader of service
models per process, and never read AWS_* variables, ~/.aws or configured endpoint URLs.
"""

import os
from typing import Optional

import boto3
import botocore.session
from botocore.config import Config
from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES
from botocore.loaders import Loader

from .account_keys import AccountKeys

# For in-process worlds only: moto's mock answers inside this process alone, so no one else
# can use them. A persistent account's server demands its own keys (account_keys.py).
_DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


class _SharedLoader(Loader):
    """Service models, loaded once per process and shared by every sim session (a fresh
    botocore session would parse the EC2 model again, a second each time), from
    botocore's and boto3's own data only: user models in ~/.aws/models are not searched.
    boto3 appends its data path to each session's loader; the copy returned here makes
    that a no-op, the path being there from the start."""

    @property
    def search_paths(self):
        return list(self._search_paths)


_LOADER = _SharedLoader(
    extra_search_paths=[Loader.BUILTIN_DATA_PATH, os.path.join(os.path.dirname(boto3.__file__), "data")],
    include_default_search_paths=False,
)


def isolated_session(
    region: str, direct: bool = False, keys: Optional[AccountKeys] = None, attempts: Optional[int] = None
) -> boto3.Session:
    """A boto3 Session with `keys` (a persistent account's), else dummy credentials, that
    ignores the user's environment.

    botocore reads profiles, regions, endpoints, retry settings and more from AWS_*
    variables and ~/.aws; the session is built without any environment variable behind
    its settings, with no config or credentials file, and with configured endpoint URLs
    ignored (AWS_ENDPOINT_URL* are read from os.environ by a separate provider).
    direct: its clients ignore HTTP(S)_PROXY too (they talk to a local server). attempts:
    how many times its clients try a call (botocore's default otherwise). A client's own
    Config still merges over both.
    """
    no_env = {
        name: (config_name, None, default, convert)
        for name, (config_name, _env, default, convert) in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
    }
    core = botocore.session.Session(session_vars=no_env)
    core.register_component("data_loader", _LOADER)
    core.set_config_variable("config_file", os.devnull)
    core.set_config_variable("credentials_file", os.devnull)
    core.set_config_variable("ignore_configured_endpoint_urls", True)
    defaults: dict = {}
    if direct:
        defaults["proxies"] = {}
    if attempts is not None:
        defaults["retries"] = {"total_max_attempts": attempts}
    if defaults:
        core.set_default_client_config(Config(**defaults))
    credentials = (
        _DUMMY_CREDENTIALS
        if keys is None
        else {"aws_access_key_id": keys.access_key_id, "aws_secret_access_key": keys.secret_access_key}
    )
    return boto3.Session(botocore_session=core, region_name=region, **credentials)
