"""SSM Run Command that really runs: AWS-RunShellScript executes here, with bash.

moto accepts SendCommand and reports Success with empty output without running anything,
so a dry run could never show a PING failing. Here the commands run on this machine, in a
scratch directory standing in for the instance, with a clean environment (no AWS
credentials of the user's leak into them). Everything else in SSM stays moto's.

What it reproduces, and where the behaviour comes from:

- Only managed nodes take commands: a Cloud9 CONNECT_SSM instance once its environment is
  ready, or a running EC2 instance with an instance profile whose SSM Agent has had
  `ssm.register` seconds since launch to register, if it can reach SSM at all (a public
  IPv4 address and an internet gateway, a NAT, or an endpoint: ec2.py). Anything else: InvalidInstanceId,
  "Instances [[i-...]] not in a valid state for account 123456789012" (the text users
  quote). A Cloud9 CONNECT_SSH instance has no instance profile, so it is not one.
  DescribeInstanceInformation filtered by InstanceIds answers InvalidInstanceId too for any
  that is not (yet) one: the service model lists it for that case (the agent not registered).
- GetCommandInvocation: InvocationDoesNotExist just after sending (botocore's
  command_executed waiter retries on it) and for unknown ids; InProgress until
  `ssm.command` has passed; then Success / Failed (exit code in ResponseCode) / TimedOut.
  StandardOutputContent keeps the first 24,000 characters, StandardErrorContent the
  first 8,000 (the API reference).
- executionTimeout (default 3600 s) bounds the run in real seconds, and so does
  MAX_REAL_SECONDS: a rehearsal must not hang on a command that would hang on AWS too.
- The outcome is settled at `ssm.command` on the world's clock; if the process is still
  running then, the caller waits for it in real time.
- A command runs in the ops process that sent it. On a persistent account another process
  sees it InProgress while that process lives; a process that stops (world.stop) first
  kills what is still running and records the result; one killed outright leaves the
  invocation Failed, "its output is lost".
- The instance's `aws` command: a script reading a parameter (`aws ssm get-parameter
  --name N --with-decryption --query Parameter.Value --output text`) gets it from the
  simulated account as the instance's role, refused unless that role may
  ssm:GetParameter it (hostcli.py); that shim comes first on the command's PATH, so the
  user's own `aws` is never run. SSL_CERT_FILE names the account's CA (tls.py) once it
  has one, as the system's CAs on an instance trust ElastiCache's certificates.
- A persistent account's commands get SDK credentials, as an instance gets its role's: the
  account's keys and AWS_ENDPOINT_URL_DYNAMODB, the account's server on loopback, so a
  Python script on the host (the lesson's, ops/steps/workspace.py) reads the simulated
  table with boto3. They are the account's keys, not the role's: its policies are not
  checked there (they are for `aws ssm get-parameter`, above).
- The agent runs at most 5 commands at once on an instance (its CommandWorkersLimit);
  one sent while 5 run waits for a worker (per ops process: the sim's agent is the
  process that sent the command). So `ops exec`'s reads run while its command runs.
- CancelCommand kills the invocation's process (or keeps a waiting one from starting); the
  invocation is Cancelling for `ssm.invocation_delay`, then Cancelled, ResponseCode -1.
- Not simulated: other documents, S3/CloudWatch output, rate controls, and
  commands seeing the instance's filesystem (paths such as /home/ec2-user do not exist).
"""

import os
import shlex
import signal
import subprocess
import threading
import time
import uuid
from typing import Any, Dict, Optional

from .base import ACCOUNT_ID, Backend, SimError
from .ec2 import reaches_ssm
from .local_redis import LOOPBACK
from .processes import alive
from .tls import CA_FILE

DOCUMENT = "AWS-RunShellScript"
PLUGIN = "aws:runShellScript"
STDOUT_LIMIT, STDERR_LIMIT = 24000, 8000
COMMAND_WORKERS = 5  # the SSM Agent's CommandWorkersLimit: documents it runs at once on an instance
MAX_REAL_SECONDS = 120
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SSMError(SimError):
    pass


class InvalidInstanceId(SSMError):
    code = "InvalidInstanceId"

    def __init__(self, instance_ids):
        super().__init__(f"Instances [[{', '.join(instance_ids)}]] not in a valid state for account {ACCOUNT_ID}")


class InvocationDoesNotExist(SSMError):
    code = "InvocationDoesNotExist"

    def __init__(self):
        super().__init__("")


class InvalidDocument(SSMError):
    code = "InvalidDocument"


class InvalidParameters(SSMError):
    code = "InvalidParameters"


class InvalidPluginName(SSMError):
    code = "InvalidPluginName"

    def __init__(self):
        super().__init__("")


class InvalidFilterKey(SSMError):
    code = "InvalidFilterKey"


class InvalidCommandId(SSMError):
    code = "InvalidCommandId"

    def __init__(self):
        super().__init__("")


class DuplicateInstanceId(SSMError):
    code = "DuplicateInstanceId"

    def __init__(self):
        super().__init__("")


# The command waits at this gate until its pid is known (attributed to its instance); the
# gate's descriptor comes in the environment, closed and forgotten before the script runs.
_GATE = 'read -r -u "$OPS_SIM_GATE_FD" _; exec {OPS_SIM_GATE_FD}<&-; unset OPS_SIM_GATE_FD\n'


def _never_ran() -> Dict[str, Any]:
    """The result of a run stopped (cancelled, or its process ending) before it started."""
    return {"code": -1, "stdout": "", "stderr": "", "timed_out": False, "elapsed": 0.0}


class _Run:
    """One invocation's process, run on a thread; results stay here until observed.

    It starts once one of its instance's command workers is free (`workers`, the agent's
    CommandWorkersLimit), unless stopped first. The script waits on a pipe until its process
    group is registered as the instance's, so its first connection is already attributed
    (see network.py)."""

    def __init__(
        self,
        script: str,
        cwd: str,
        env: dict,
        timeout: float,
        instance_id: str,
        attribution,
        workers: threading.Semaphore,
    ):
        self.result: Optional[Dict[str, Any]] = None
        self._proc: Optional["subprocess.Popen[bytes]"] = None
        self._stopped = False
        self._guard = threading.Lock()  # stop() and the process's start exclude each other
        self._attribution = attribution
        self._thread = threading.Thread(
            target=self._queued, args=(script, cwd, env, timeout, instance_id, workers), daemon=True
        )
        self._thread.start()

    def _queued(self, script, cwd, env, timeout, instance_id, workers):
        while not workers.acquire(timeout=0.05):
            if self._stopped:
                self.result = _never_ran()
                return
        try:
            self._run(script, cwd, env, timeout, instance_id)
        finally:
            workers.release()

    def _run(self, script, cwd, env, timeout, instance_id):
        started = time.monotonic()
        gate_r, gate_w = os.pipe()
        try:
            with self._guard:
                if self._stopped:
                    os.close(gate_w)
                    self.result = _never_ran()
                    return
                self._proc = proc = subprocess.Popen(
                    ["bash", "-c", _GATE + script],
                    cwd=cwd,
                    env={**env, "OPS_SIM_GATE_FD": str(gate_r)},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    pass_fds=(gate_r,),
                    umask=0o077,
                )  # what it writes in the instance's folder is private
        except OSError as e:
            os.close(gate_w)
            self.result = {"code": 1, "stdout": "", "stderr": str(e), "timed_out": False, "elapsed": 0.0}
            return
        finally:
            os.close(gate_r)
        self._attribution.add(proc.pid, instance_id)
        os.write(gate_w, b"go\n")
        os.close(gate_w)
        try:
            out, err = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            self._kill(proc)
            out, err = proc.communicate()
            timed_out = True
        finally:
            self._attribution.remove(proc.pid)
        self.result = {
            "code": proc.returncode,
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
            "timed_out": timed_out,
            "elapsed": time.monotonic() - started,
        }

    @staticmethod
    def _kill(proc: "subprocess.Popen[bytes]") -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self):
        self._thread.join()
        return self.result

    def stop(self):
        """Kill its process (or keep it from starting) and wait for the thread."""
        with self._guard:
            self._stopped = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            self._kill(proc)
        self._thread.join(timeout=5)


class SSMBackend(Backend):
    service = "ssm"
    answers_alone = True
    operations = ("SendCommand", "GetCommandInvocation", "CancelCommand", "DescribeInstanceInformation", "ListCommands")
    unlocked = ("GetCommandInvocation",)

    def __init__(self, world):
        super().__init__(world)
        self.runs = {}  # invocation keys -> _Run, in the process that sent the command
        self.workers: Dict[str, threading.Semaphore] = {}  # instance id -> its agent's free command workers
        self._host_cli = None  # hostcli.HostCli, made for the first command

    @property
    def commands(self):
        return self.world.store.section("ssm").setdefault("commands", {})

    @property
    def invocations(self):
        """ "<command id>/<instance id>" -> record"""
        return self.world.store.section("ssm").setdefault("invocations", {})

    def close(self) -> None:
        """Stop the commands still running; what they did is kept for a persistent account's
        next process to report."""
        for key, run in self.runs.items():
            run.stop()
            with self.lock:
                self.invocations[key]["result"] = run.result
        self.runs.clear()
        if self._host_cli is not None:
            self._host_cli.close()
            self._host_cli = None

    def command_env(self, cwd: str) -> dict:
        """A clean environment: system PATH behind the instance's own `aws`, and the account's CA."""
        from .hostcli import HostCli

        if self._host_cli is None:
            self._host_cli = HostCli(self.world)
        env = {"PATH": f"{self._host_cli.bin}:{_SYSTEM_PATH}", "HOME": cwd, "LANG": "C.UTF-8"}
        ca = os.path.join(self.world.workdir, "tls", CA_FILE)
        if os.path.exists(ca):
            env["SSL_CERT_FILE"] = ca
        server = self.world.server
        if server is not None and server.keys is not None:  # the SDK's credentials on an instance
            env.update(
                AWS_ACCESS_KEY_ID=server.keys.access_key_id,
                AWS_SECRET_ACCESS_KEY=server.keys.secret_access_key,
                AWS_ENDPOINT_URL_DYNAMODB=f"http://{LOOPBACK}:{server.port}",
                AWS_EC2_METADATA_DISABLED="true",
            )
        return env

    # managed nodes

    def managed_instances(self):
        """Running instances whose SSM Agent is connected, by id -> describe_instances entry."""
        now = self.now()
        cloud9_ready = self.world.cloud9.ready_instance_ids()
        online = {}
        for reservation in self.world.client("ec2").describe_instances()["Reservations"]:
            for instance in reservation["Instances"]:
                iid = instance["InstanceId"]
                if instance["State"]["Name"] != "running":
                    continue
                if self.world.cloud9.owns_instance(iid):
                    if iid in cloud9_ready:
                        online[iid] = instance
                    continue
                launched = self.world.ec2.launched_at(iid)
                if (
                    instance.get("IamInstanceProfile")
                    and (launched is None or now >= launched + self.world.durations["ssm.register"])
                    and reaches_ssm(self.world, instance)
                ):
                    online[iid] = instance
        return online

    # operations

    def send_command(self, params):
        if params["DocumentName"] != DOCUMENT:
            raise InvalidDocument(f"ops sim: only {DOCUMENT} is executed; {params['DocumentName']} is not simulated")
        instance_ids = list(params.get("InstanceIds") or []) + self._resolve_targets(params.get("Targets") or [])
        if not instance_ids:
            raise InvalidParameters("Either InstanceIds or Targets must be specified")
        online = self.managed_instances()
        offline = [iid for iid in instance_ids if iid not in online]
        if offline:
            raise InvalidInstanceId(offline)
        parameters = params.get("Parameters") or {}
        commands = parameters.get("commands")
        if not commands:
            raise InvalidParameters('Parameter "commands" is required but was not provided.')
        try:
            timeout = float((parameters.get("executionTimeout") or ["3600"])[0])
        except ValueError:
            raise InvalidParameters('Parameter "executionTimeout" must be a number of seconds.') from None
        command_id = str(uuid.uuid4())
        now = self.now()
        command = {
            "CommandId": command_id,
            "DocumentName": DOCUMENT,
            "DocumentVersion": "$DEFAULT",
            "Comment": params.get("Comment", ""),
            "Parameters": parameters,
            "InstanceIds": instance_ids,
            "Targets": params.get("Targets") or [],
            "sent_at": now,
            "TimeoutSeconds": params.get("TimeoutSeconds", 3600),
        }
        self.commands[command_id] = command
        script = "\n".join(commands)
        for iid in instance_ids:
            key = f"{command_id}/{iid}"
            self.invocations[key] = {
                "command_id": command_id,
                "instance_id": iid,
                "sent_at": now,
                "outcome": None,
                "runner": os.getpid(),
            }
            cwd = self.instance_home(iid)
            workdir = (parameters.get("workingDirectory") or [""])[0]
            if workdir and not os.path.isdir(workdir):
                script_here = (
                    "printf 'ops sim: working directory %s does not exist on this machine\\n' "
                    + shlex.quote(workdir)
                    + " >&2; exit 1"
                )  # quoted: the caller's text stays text
                workdir = ""  # run that from the instance's folder: Popen cannot start in a missing one
            else:
                script_here = script
            env = self.command_env(cwd)
            workers = self.workers.setdefault(iid, threading.BoundedSemaphore(COMMAND_WORKERS))
            self.runs[key] = _Run(
                script_here, workdir or cwd, env, min(timeout, MAX_REAL_SECONDS), iid, self.world.attribution, workers
            )
        return {"Command": self._command_view(command)}

    def get_command_invocation(self, params):
        key = f"{params['CommandId']}/{params['InstanceId']}"
        if params.get("PluginName") not in (None, PLUGIN):
            raise InvalidPluginName()
        with self.lock:
            record = self.invocations.get(key)
            if record is None or self.now() < record["sent_at"] + self.world.durations["ssm.invocation_delay"]:
                raise InvocationDoesNotExist()
            due = record["sent_at"] + self.world.durations["ssm.command"]
            run = self.runs.get(key)
            if record["outcome"] is None and (self.now() < due or self._running_elsewhere(record, run)):
                return self._invocation_view(record)
        if record["outcome"] is None:
            # outside the lock: the process may still be running
            result = run.wait() if run else record.get("result")
            with self.lock:
                record = self.invocations[key]  # as saved now: another process may have settled it
                if record["outcome"] is None:
                    record["outcome"] = self._outcome(result)
                self.runs.pop(key, None)
        return self._invocation_view(record)

    def cancel_command(self, params):
        """Cancel the command's invocations that have not ended (on the instances given, else
        all): a process this ops process runs is killed, or kept from starting. One run by
        another live ops process (a persistent account) is reported Cancelled but runs on: "There
        is no guarantee that the command will be terminated and the underlying process stopped"
        (the API reference). An invocation that has ended stays as it ended."""
        command = self.commands.get(params["CommandId"])
        if command is None:
            raise InvalidCommandId()
        wanted = params.get("InstanceIds") or command["InstanceIds"]
        if len(set(wanted)) != len(wanted):
            raise DuplicateInstanceId()
        unknown = [iid for iid in wanted if iid not in command["InstanceIds"]]
        if unknown:
            raise InvalidInstanceId(unknown)
        for iid in wanted:
            key = f"{command['CommandId']}/{iid}"
            record = self.invocations[key]
            if record["outcome"] is not None:
                continue
            run = self.runs.pop(key, None)
            if run is not None and run.result is not None:  # its process had ended: the agent said so first
                record["outcome"] = self._outcome(run.result)
                continue
            if run is not None:
                run.stop()
            record["outcome"] = self._cancelled(run.result if run is not None else None)
            record["cancelled_at"] = self.now()
        return {}

    def list_commands(self, params):
        """The commands sent, newest first, for one CommandId or InstanceId if given (no
        filters or pages: ops asks for its own commands on one instance). Like
        GetCommandInvocation, a command is listed only `ssm.invocation_delay` after it was
        sent: a caller looking for one whose answer was lost must not give up at once."""
        if params.get("Filters"):
            raise InvalidFilterKey("ops sim: ListCommands filters are not simulated")
        visible_from = self.now() - self.world.durations["ssm.invocation_delay"]
        commands = [
            command
            for command in self.commands.values()
            if params.get("CommandId") in (None, command["CommandId"])
            and params.get("InstanceId") in (None, *command["InstanceIds"])
            and command["sent_at"] <= visible_from
        ]
        commands.sort(key=lambda command: command["sent_at"], reverse=True)
        return {"Commands": [self._command_view(command) for command in commands]}

    def describe_instance_information(self, params):
        wanted_ids, wanted_ping = None, None
        filters = [(f["key"], f["valueSet"]) for f in params.get("InstanceInformationFilterList") or []]
        filters += [(f["Key"], f["Values"]) for f in params.get("Filters") or []]
        for key, values in filters:
            if key in ("InstanceIds", "instanceIds"):
                wanted_ids = set(values)
            elif key == "PingStatus":
                wanted_ping = set(values)
            else:
                raise InvalidFilterKey(f"ops sim: filter key {key} is not simulated")
        now = self.timestamp(self.now())
        managed = self.managed_instances()
        unregistered = sorted((wanted_ids or set()) - set(managed))
        if unregistered:  # SSM Agent has not registered them (yet): the model's InvalidInstanceId
            raise InvalidInstanceId(unregistered)
        items = []
        for iid, instance in sorted(managed.items()):
            if wanted_ids is not None and iid not in wanted_ids:
                continue
            if wanted_ping is not None and "Online" not in wanted_ping:
                continue
            items.append(
                {
                    "InstanceId": iid,
                    "PingStatus": "Online",
                    "LastPingDateTime": now,
                    "AgentVersion": "3.3.1142.0",
                    "IsLatestVersion": False,
                    "PlatformType": "Linux",
                    "PlatformName": "Amazon Linux",
                    "PlatformVersion": "2023",
                    "ResourceType": "EC2Instance",
                    "IPAddress": instance.get("PrivateIpAddress", ""),
                    "ComputerName": instance.get("PrivateDnsName", ""),
                    "IamRole": self._role_name(instance),
                    "SourceId": iid,
                    "SourceType": "AWS::EC2::Instance",
                }
            )
        start = int(params.get("NextToken") or 0)
        size = params.get("MaxResults") or 50
        result: Dict[str, Any] = {"InstanceInformationList": items[start : start + size]}
        if start + size < len(items):
            result["NextToken"] = str(start + size)
        return result

    # helpers

    @staticmethod
    def _running_elsewhere(record, run) -> bool:
        """Sent by another live ops process on the same (persistent) account, not yet ended."""
        return (
            run is None and record.get("result") is None and record["runner"] != os.getpid() and alive(record["runner"])
        )

    def _resolve_targets(self, targets):
        ids = []
        for target in targets:
            key, values = target["Key"], target["Values"]
            if key == "InstanceIds":
                ids += values
                continue
            if key.startswith("tag:"):
                filters = [{"Name": key, "Values": values}]
            elif key == "tag-key":
                filters = [{"Name": "tag-key", "Values": values}]
            else:
                raise InvalidParameters(f"ops sim: target key {key} is not simulated")
            for reservation in self.world.client("ec2").describe_instances(Filters=filters)["Reservations"]:
                ids += [i["InstanceId"] for i in reservation["Instances"] if i["State"]["Name"] != "terminated"]
        return ids

    def _role_name(self, instance) -> str:
        profile = instance["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
        roles = self.world.client("iam").get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
        return roles[0]["RoleName"] if roles else ""

    def instance_home(self, instance_id: str) -> str:
        """The simulated instance's home: its commands run there, and what one leaves the next finds."""
        path = os.path.join(self.world.workdir, "instances", instance_id)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    @staticmethod
    def _outcome(result):
        if result is None:  # it ran in an ops process killed before the command ended
            return {
                "Status": "Failed",
                "StatusDetails": "Failed",
                "ResponseCode": -1,
                "StandardOutputContent": "",
                "StandardErrorContent": "ops sim: the ops process running this command was killed; its output is lost",
                "elapsed": 0.0,
            }
        if result["timed_out"]:
            status, details, code = "TimedOut", "ExecutionTimedOut", -1
        elif result["code"] == 0:
            status, details, code = "Success", "Success", 0
        else:
            status, details, code = "Failed", "Failed", result["code"]
        return {
            "Status": status,
            "StatusDetails": details,
            "ResponseCode": code,
            "StandardOutputContent": result["stdout"][:STDOUT_LIMIT],
            "StandardErrorContent": result["stderr"][:STDERR_LIMIT],
            "elapsed": result["elapsed"],
        }

    @staticmethod
    def _cancelled(result) -> Dict[str, Any]:
        """A cancelled invocation: what its process had written before it was killed."""
        result = result or _never_ran()
        return {
            "Status": "Cancelled",
            "StatusDetails": "Cancelled",
            "ResponseCode": -1,
            "StandardOutputContent": result["stdout"][:STDOUT_LIMIT],
            "StandardErrorContent": result["stderr"][:STDERR_LIMIT],
            "elapsed": result["elapsed"],
        }

    def _iso(self, at: float) -> str:
        return self.timestamp(at).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _invocation_view(self, record):
        command = self.commands[record["command_id"]]
        started = record["sent_at"] + self.world.durations["ssm.invocation_delay"]
        view = {
            "CommandId": record["command_id"],
            "InstanceId": record["instance_id"],
            "Comment": command["Comment"],
            "DocumentName": DOCUMENT,
            "DocumentVersion": "$DEFAULT",
            "PluginName": PLUGIN,
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "ExecutionStartDateTime": self._iso(started),
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }
        outcome = record["outcome"]
        if outcome is None:
            view.update(
                Status="InProgress",
                StatusDetails="InProgress",
                ResponseCode=-1,
                StandardOutputContent="",
                StandardErrorContent="",
                ExecutionElapsedTime="",
                ExecutionEndDateTime="",
            )
            return view
        ended = max(record["sent_at"] + self.world.durations["ssm.command"], started + outcome["elapsed"])
        view.update({k: v for k, v in outcome.items() if k != "elapsed"})
        cancelled_at = record.get("cancelled_at")
        if cancelled_at is not None:  # the agent confirms a cancellation a moment later
            if self.now() < cancelled_at + self.world.durations["ssm.invocation_delay"]:
                view.update(
                    Status="Cancelling", StatusDetails="Cancelling", ExecutionEndDateTime="", ExecutionElapsedTime=""
                )
                return view
            ended = max(cancelled_at, started)
        view["ExecutionEndDateTime"] = self._iso(ended)
        view["ExecutionElapsedTime"] = f"PT{ended - started:.3f}S"
        return view

    def _command_view(self, command):
        sent = self.timestamp(command["sent_at"])
        view = {
            k: command[k]
            for k in (
                "CommandId",
                "DocumentName",
                "DocumentVersion",
                "Comment",
                "Parameters",
                "InstanceIds",
                "Targets",
                "TimeoutSeconds",
            )
        }
        view.update(
            RequestedDateTime=sent,
            ExpiresAfter=self.timestamp(command["sent_at"] + command["TimeoutSeconds"]),
            Status="Pending",
            StatusDetails="Pending",
            TargetCount=len(command["InstanceIds"]),
            CompletedCount=0,
            ErrorCount=0,
            DeliveryTimedOutCount=0,
            MaxConcurrency="50",
            MaxErrors="0",
            OutputS3Region=self.world.region,
            OutputS3BucketName="",
            OutputS3KeyPrefix="",
            ServiceRole="",
            NotificationConfig={"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            CloudWatchOutputConfig={"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        )
        return view
