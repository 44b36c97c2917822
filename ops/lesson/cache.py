"""Redis in front of DynamoDB: a restaurant summary is kept in the cache for TTL_SECONDS.

The cache is at REDIS_HOSTNAME (and REDIS_PORT). When the lab's cache speaks TLS, REDIS_TLS
is "true"; when it asks for an AUTH token, REDIS_AUTH_TOKEN_PARAMETER names the SSM
parameter that holds it, and the token is read from there with this host's role.
"""

import json
import os
import subprocess

import redis

TTL_SECONDS = 900


def read_token(parameter):
    command = ["aws", "ssm", "get-parameter", "--name", parameter, "--with-decryption"]
    command += ["--query", "Parameter.Value", "--output", "text"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def redis_client():
    parameter = os.environ.get("REDIS_AUTH_TOKEN_PARAMETER")
    return redis.Redis(
        host=os.environ["REDIS_HOSTNAME"],
        port=int(os.environ.get("REDIS_PORT", "6379")),
        ssl=os.environ.get("REDIS_TLS") == "true",
        password=read_token(parameter) if parameter else None,
        decode_responses=True,
        socket_timeout=5,
    )


client = redis_client()


def cache_key(restaurant_name):
    return f"lesson:restaurant-summary:{restaurant_name}"


def fetch_restaurant_summary_from_cache(restaurant_name):
    cached = client.get(cache_key(restaurant_name))
    return json.loads(cached) if cached else None


def store_restaurant_summary_in_cache(restaurant_name, items):
    client.set(cache_key(restaurant_name), json.dumps(items), ex=TTL_SECONDS)
