"""botocore's data files (service models, endpoint rules, partitions), parsed once per process.

A botocore session makes a loader of its own, and each loader parses again every file its
clients need: endpoints.json (1.2 MB) for the first client, then each service's model (EC2's
alone takes a tenth of a second). A command may open several sessions (its target, a shared
record's, a dry run's own), and a test process hundreds. Every session ops makes takes its
loader from here instead: one per search path, so a real session still honours the user's
AWS_DATA_PATH (or the profile's data_path) and ~/.aws/models, and the simulator's sessions
read botocore's and boto3's own data only.
"""

import os
import threading
from typing import Dict, Optional, Tuple

from botocore.loaders import Loader


class SharedLoader(Loader):
    """A Loader that sessions share. boto3 appends its data path to each session's loader;
    here that path is there from the start, and the copy returned makes the append a no-op
    (else the list would grow with each session)."""

    @property
    def search_paths(self):
        return list(self._search_paths)


_LOADERS: Dict[Tuple[Optional[str], bool], SharedLoader] = {}
_LOCK = threading.Lock()


def _boto3_data_path() -> str:
    import boto3

    return os.path.join(os.path.dirname(boto3.__file__), "data")


def shared_loader(data_path: Optional[str] = None, user_models: bool = True) -> SharedLoader:
    """The process's loader for these search paths, as botocore's create_loader(data_path)
    plus boto3's would search them. user_models=False: botocore's and boto3's data only
    (no data_path, no ~/.aws/models), for sessions that must not depend on the user's files."""
    key = (data_path if user_models else None, user_models)
    with _LOCK:
        loader = _LOADERS.get(key)
        if loader is None:
            if user_models:
                extra = [os.path.expanduser(os.path.expandvars(p)) for p in (data_path or "").split(os.pathsep) if p]
                loader = SharedLoader(extra_search_paths=extra)
            else:
                loader = SharedLoader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)
            loader._search_paths.append(_boto3_data_path())
            _LOADERS[key] = loader
        return loader


def share_with_every_session() -> None:
    """Give every botocore session this process makes from now on its shared loader, not
    only ops's own: moto makes sessions of its own (four in a process that imports its EC2,
    each parsing endpoints.json again: about a second). A session's data_path still picks its loader."""
    import botocore.session

    botocore.session.create_loader = shared_loader


def session_with_shared_loader(profile: Optional[str] = None):
    """A botocore session (profile: --profile's, else the environment's) whose data comes
    from the shared loader for its data_path. Raises ProfileNotFound as botocore does."""
    import botocore.session

    core = botocore.session.Session(profile=profile)
    core.register_component("data_loader", shared_loader(core.get_config_variable("data_path")))
    return core
