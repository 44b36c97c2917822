"""What answers at a simulated cache cluster's endpoint: a real Redis behind a gate that
applies the cluster's security groups (network.py). Two ways to host them:

- InProcessEndpoints (the world of one process): a throwaway Redis and an in-process gate,
  both gone when the world stops.
- DetachedEndpoints (a persistent account): a redis-server in its own session, running in
  HOME/redis/<cluster id>, its pid and port kept in the cluster's record, behind a gate
  hosted by the account's server. Both outlive the ops process, so the endpoint keeps its
  address and its data between processes. A process checks each available cluster's
  Redis once and starts it again on the same port if it died (its data is then lost, as
  after a node replacement). Without redis-server on PATH the fallback, fakeredis, runs
  inside the account's server instead, which outlives ops processes the same way.

A cluster with in-transit encryption gets a TLS gate (certificate from the world's CA,
tls.py), which also checks the AUTH token when the cluster has one (network.py).
"""

import shutil

from .local_redis import LOOPBACK, answers_ping, local_redis_kind, start_local_redis
from .network import Gate, admits
from .processes import belongs_to, terminate
from .tls import server_context


class InProcessEndpoints:
    def __init__(self, world):
        self.world = world
        self.servers = {}  # cluster id -> (Gate, LocalRedis)

    def ensure(self, cluster) -> None:
        if cluster["id"] in self.servers:
            return
        redis = start_local_redis()
        group_ids = list(cluster["security_group_ids"])
        port = cluster["port"]
        tls = self.world.tls_files() if cluster.get("transit_encryption") else None
        gate = Gate(
            redis.port,
            self.world.attribution,
            lambda instance_id: admits(self.world.client("ec2"), group_ids, instance_id, port),
            tls=server_context(tls["cert"], tls["key"]) if tls else None,
            password=cluster.get("auth_token"),
            inline_commands=redis.kind == "fakeredis",
        )
        self.servers[cluster["id"]] = (gate, redis)
        cluster["endpoint"] = {"Address": gate.host, "Port": gate.port}

    def stop(self, cluster) -> None:
        for server in self.servers.pop(cluster["id"], ()):
            server.stop()

    def close(self) -> None:
        for gate, redis in self.servers.values():
            gate.stop()
            redis.stop()
        self.servers.clear()


class DetachedEndpoints:
    def __init__(self, world):
        self.world = world
        self.checked = set()  # cluster ids whose Redis and gate this process has seen running

    def ensure(self, cluster) -> None:
        if cluster["id"] in self.checked:
            return
        redis = cluster.get("local_redis")
        if redis is None or not answers_ping(redis["port"]):
            redis = cluster["local_redis"] = self._start_redis(cluster["id"], redis and redis["port"])
        tls = self.world.tls_files() if cluster.get("transit_encryption") else None
        gate_port = self.world.server.open_gate(
            cluster["id"],
            redis["port"],
            cluster["security_group_ids"],
            cluster["port"],
            self.world.region,
            tls=tls,
            password=cluster.get("auth_token"),
            inline_commands=redis["kind"] == "fakeredis",
        )
        cluster["endpoint"] = {"Address": LOOPBACK, "Port": gate_port}
        self.checked.add(cluster["id"])

    def _start_redis(self, cluster_id: str, port):
        if local_redis_kind() == "fakeredis":
            return {"pid": None, "port": self.world.server.start_fakeredis(cluster_id, port), "kind": "fakeredis"}
        workdir = self.world.home / "redis" / cluster_id
        workdir.parent.mkdir(mode=0o700, exist_ok=True)
        workdir.mkdir(mode=0o700, exist_ok=True)
        redis = start_local_redis(detach=True, port=port, workdir=str(workdir))
        return {"pid": redis.pid, "port": redis.port, "kind": redis.kind}

    def stop(self, cluster) -> None:
        self.checked.discard(cluster["id"])
        self.world.server.close_gate(cluster["id"])
        redis = cluster.pop("local_redis", None)
        if redis and redis["kind"] == "fakeredis":
            self.world.server.stop_fakeredis(cluster["id"])
        elif redis and redis["pid"] and belongs_to(redis["pid"], self.world.home):
            terminate(redis["pid"])
        shutil.rmtree(self.world.home / "redis" / cluster["id"], ignore_errors=True)

    def close(self) -> None:
        """Nothing to do: the account's endpoints live on."""
