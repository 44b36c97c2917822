"""The `aws` command on a simulated instance: just enough of the AWS CLI for a host to read
an SSM parameter as its instance role.

    aws ssm get-parameter --name NAME [--with-decryption] --query Parameter.Value --output text

SSM Run Command runs its scripts on this machine (ssm.py); a script that reads a parameter
(PING and the demo with an AUTH token) finds this command first on its PATH, never the
user's own `aws`. It asks the ops process that runs the command, over an AF_UNIX socket in
a private temporary folder (0700), which answers from the simulated account as the
instance's role: the caller is told apart by its process group (SO_PEERCRED, then the
world's Attribution, as the endpoint gates do), its instance gives the role (instance
profile), and the role's inline and attached policies must allow ssm:GetParameter on the
parameter's ARN, as IAM would (Allow statements with `*`/`?` wildcards in Action and
Resource; a matching Deny wins; statements with Condition, NotAction or NotResource are not
evaluated and so never allow). Otherwise: AccessDeniedException, the CLI's text on stderr,
exit 254 (the CLI v2's code for an error answered by the service; 252 for a command line it
cannot parse). Nothing leaves loopback: the socket is a file, and the answer comes from the
world's own moto. The folder is named after the process that serves it; a process that was
killed cannot remove its own, so the next one removes every such folder whose process has
ended (only the user's own: /tmp is shared).

Not simulated: other commands and options, KMS (a SecureString decrypts for any role that
may read it, as with the default aws/ssm key), resource-based conditions.
"""

import fnmatch
import json
import os
import shutil
import socket
import socketserver
import stat
import struct
import sys
import tempfile
import threading
from typing import Optional

from .base import ACCOUNT_ID
from .processes import alive

EXIT_SERVICE_ERROR, EXIT_USAGE = 254, 252

SHIM = """#!{python} -I
import json, os, socket, sys
SOCKET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cli.sock")  # bin/../cli.sock
USAGE = ("aws: [ERROR]: ops sim: only 'aws ssm get-parameter --name NAME [--with-decryption] "
         "--query Parameter.Value --output text' is simulated")
args, options, flags = sys.argv[1:], {{}}, set()
if args[:2] != ["ssm", "get-parameter"]:
    sys.exit(print(USAGE, file=sys.stderr) or {usage})
rest = args[2:]
while rest:
    word = rest.pop(0)
    if word == "--with-decryption":
        flags.add(word)
    elif word in ("--name", "--query", "--output", "--region") and rest:
        options[word] = rest.pop(0)
    else:
        sys.exit(print(USAGE, file=sys.stderr) or {usage})
if "--name" not in options or options.get("--query") != "Parameter.Value" or options.get("--output") != "text":
    sys.exit(print(USAGE, file=sys.stderr) or {usage})
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.connect(SOCKET)
    s.sendall(json.dumps({{"name": options["--name"], "decrypt": "--with-decryption" in flags}}).encode() + b"\\n")
    answer = json.loads(s.makefile().readline())
if "error" in answer:
    print("\\nAn error occurred (%s) when calling the GetParameter operation: %s" % (answer["error"], answer["message"]),
          file=sys.stderr)
    sys.exit({service_error})
print(answer["value"])
"""


def _matches(patterns, value: str, case_sensitive: bool) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    if case_sensitive:
        return any(fnmatch.fnmatchcase(value, p) for p in patterns)
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def policy_decision(documents, action: str, resource: str) -> Optional[str]:
    """ "Deny", "Allow" or None (no statement applies: implicitly denied), over policy documents."""
    decision = None
    for document in documents:
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if any(k in statement for k in ("Condition", "NotAction", "NotResource")):
                continue
            if not (
                _matches(statement.get("Action", []), action, False)
                and _matches(statement.get("Resource", []), resource, True)
            ):
                continue
            if statement.get("Effect") == "Deny":
                return "Deny"
            decision = "Allow"
    return decision


def role_documents(iam, role: str):
    """Every policy document on `role`: its inline policies and its attached managed ones."""
    documents = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        documents.append(json.loads(document) if isinstance(document, str) else document)
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents


FOLDER_PREFIX, SOCKET_NAME = "ops-sim-cli-", "cli.sock"


def remove_abandoned_folders() -> None:
    """Remove the folders of this user's ended processes (killed ones never removed theirs)."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        pid_text = name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        if not name.startswith(FOLDER_PREFIX) or not pid_text.isdigit():
            continue
        path = os.path.join(root, name)
        try:
            status = os.lstat(path)
        except OSError:
            continue
        if status.st_uid != os.getuid() or not stat.S_ISDIR(status.st_mode) or alive(int(pid_text)):
            continue
        if not _served(os.path.join(path, SOCKET_NAME)):  # a process of another PID namespace, sharing /tmp
            shutil.rmtree(path, ignore_errors=True)


def _served(socket_path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(socket_path)
        except OSError:  # refused: its server ended; or no socket at all
            return False
    return True


class HostCli:
    """The socket and the `aws` shim, for the commands this process runs (made on first use)."""

    def __init__(self, world):
        self.world = world
        remove_abandoned_folders()
        self.directory = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")  # short: AF_UNIX paths are limited
        os.chmod(self.directory, 0o700)
        self.bin = os.path.join(self.directory, "bin")
        os.mkdir(self.bin, 0o700)
        socket_path = os.path.join(self.directory, SOCKET_NAME)
        cli = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                cli._handle(self.connection, self.rfile, self.wfile)

        self._server = socketserver.ThreadingUnixStreamServer(socket_path, Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="ops-sim-host-cli"
        ).start()
        shim = os.path.join(self.bin, "aws")
        with open(shim, "w") as f:
            f.write(SHIM.format(python=sys.executable, usage=EXIT_USAGE, service_error=EXIT_SERVICE_ERROR))
        os.chmod(shim, 0o700)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _handle(self, connection, rfile, wfile) -> None:
        try:
            line = rfile.readline()
            if not line:  # a probe (remove_abandoned_folders) or a shim that died
                return
            request = json.loads(line)
            pid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
            answer = self.get_parameter(self._instance_of(pid), request["name"], bool(request.get("decrypt")))
        except Exception as exc:  # noqa: BLE001 - the shim reports it like the CLI would
            answer = {"error": getattr(exc, "code", "InternalFailure"), "message": str(exc)}
        wfile.write(json.dumps(answer).encode() + b"\n")

    def _instance_of(self, pid: int) -> Optional[str]:
        try:
            return self.world.attribution.groups().get(os.getpgid(pid))
        except OSError:
            return None

    def get_parameter(self, instance_id: Optional[str], name: str, decrypt: bool) -> dict:
        """The parameter's value, if the instance's role may read it."""
        region = self.world.region
        arn = f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}"
        role = self._role(instance_id)
        iam = self.world.client("iam")
        if role is None or policy_decision(role_documents(iam, role), "ssm:GetParameter", arn) != "Allow":
            who = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{instance_id}" if role else "anonymous"
            return {
                "error": "AccessDeniedException",
                "message": f"User: {who} is not authorized to perform: ssm:GetParameter on resource: {arn} "
                "because no identity-based policy allows the ssm:GetParameter action",
            }
        ssm = self.world.client("ssm")
        try:
            value = ssm.get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return {"error": "ParameterNotFound", "message": ""}
        return {"value": value}

    def _role(self, instance_id: Optional[str]) -> Optional[str]:
        if instance_id is None:
            return None
        ec2, iam = self.world.client("ec2"), self.world.client("iam")
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        profile = instance.get("IamInstanceProfile", {}).get("Arn", "").rsplit("/", 1)[-1]
        if not profile:
            return None
        roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
        return roles[0]["RoleName"] if roles else None
