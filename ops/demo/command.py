"""`ops demo cache-aside` (and `python -m ops.demo`): run the demo against a real or local stack.

The Redis AUTH token, when the cache has one, comes from the environment variable
OPS_REDIS_PASSWORD (never a command-line option: argv is visible to every process).

boto3 and redis are imported only when the command runs, so the CLI starts without them.
"""

import os
from urllib.parse import urlsplit

import click

REDIS_SCHEMES = ("redis", "rediss")
PASSWORD_VARIABLE = "OPS_REDIS_PASSWORD"
DYNAMODB_ATTEMPTS = 8


def _check_redis_url(ctx, param, url: str) -> str:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (reading it validates the port)
    except ValueError:
        raise click.BadParameter(f"{url!r} has an invalid port") from None
    if parts.scheme not in REDIS_SCHEMES or not parts.hostname:
        raise click.BadParameter(
            f"{url!r} is not a Redis URL; expected redis://[:PASSWORD@]HOST:6379/0 "
            "or rediss://... for TLS (ElastiCache in-transit encryption)"
        )
    return url


@click.command("cache-aside")
@click.option(
    "--redis-url",
    required=True,
    callback=_check_redis_url,
    help="redis:// or rediss:// (TLS) URL, with an optional password.",
)
@click.option("--table", required=True, help="DynamoDB table holding the restaurants and reviews.")
@click.option("--restaurant", default="The Vineyard", show_default=True)
@click.option(
    "--reads",
    type=click.IntRange(min=1, max=100_000),
    default=50,
    show_default=True,
    help="Reads timed for each of the cached and database latency figures.",
)
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=900,
    show_default=True,
    help="Seconds a cached summary lives (plus up to 10% jitter).",
)
@click.option("--seed", is_flag=True, help="Load the sample restaurants and reviews first.")
@click.option("--region", default=None, help="AWS region of the table; defaults to the standard AWS environment.")
def cache_aside(redis_url, table, restaurant, reads, ttl, seed, region):
    """Fetch a restaurant summary twice through a Redis cache-aside layer over DynamoDB
    (uncached, then cached) and report hits, misses, latencies and the key's TTL.

    The Redis AUTH token (ElastiCache with in-transit encryption) is read from the
    environment variable OPS_REDIS_PASSWORD when set; use a rediss:// URL with it."""
    import boto3
    from botocore.config import Config

    from .run import run_demo
    from .seed import load_seed

    try:
        # botocore's standard retries, with more attempts than its default 3: a throttled or
        # briefly unreachable table should not end the lesson
        client = boto3.client(
            "dynamodb",
            region_name=region,
            config=Config(retries={"mode": "standard", "max_attempts": DYNAMODB_ATTEMPTS}),
        )
        if seed:
            click.echo(f"Seeded {load_seed(client, table)} items into {table}.")
        report = run_demo(
            redis_url,
            table,
            client,
            restaurant=restaurant,
            reads=reads,
            ttl=ttl,
            echo=click.echo,
            warn=lambda message: click.echo(f"warning: {message}", err=True),
            redis_password=os.environ.get(PASSWORD_VARIABLE) or None,
        )
    except Exception as exc:  # noqa: BLE001 - the command's one error boundary: a paragraph, not a traceback
        raise click.ClickException(explain(exc, table=table, region=region)) from exc
    if not report["redis_ok"]:  # the demo is about the cache: answering around it is a failure
        where = urlsplit(redis_url)
        raise click.ClickException(
            f"the demo answered from DynamoDB only: Redis at {where.hostname}:{where.port or 6379} failed "
            f"{report['cache_errors']} time(s). Check the cache's endpoint, the ingress rule that lets "
            "this host reach it, and the AUTH token."
        )


def explain(exc: Exception, *, table: str, region) -> str:
    """What went wrong and what to do about it, in one paragraph."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    from .entities import Restaurant
    from .seed import SeedLoadError, seed_entities
    from .table import RestaurantNotFound

    where = f"region {region}" if region else "the default region"
    if isinstance(exc, RestaurantNotFound):
        names = sorted(e.name for e in seed_entities() if isinstance(e, Restaurant))
        return (
            f"There is no restaurant named {exc.name!r} in table {table!r}. Load the sample "
            f"data with --seed, or pass --restaurant with one of: {', '.join(names)}."
        )
    if isinstance(exc, NoRegionError):
        return "No AWS region is configured. Pass --region (for example --region us-east-1) or set AWS_DEFAULT_REGION."
    if isinstance(exc, NoCredentialsError):
        return (
            "No AWS credentials were found. On the lab host attach an instance role that may "
            "read and write the table; elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY."
        )
    if isinstance(exc, EndpointConnectionError):
        return (
            f"DynamoDB could not be reached in {where} ({exc}). Check the host's network "
            "access to AWS and the --region."
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return (
                f"DynamoDB table {table!r} does not exist in {where}. Create it first (the "
                "playbook's DynamoDB step does), or check --table and --region."
            )
        return (
            f"DynamoDB refused the request ({code}: {exc.response['Error'].get('Message', '')}). "
            f"Check that the credentials in use may query and write table {table!r}."
        )
    if isinstance(exc, SeedLoadError):
        return f"Loading the sample data failed: {exc}. Wait a minute and run again with --seed."
    return (
        f"The demo failed unexpectedly ({type(exc).__name__}: {exc}). Run it again; if it "
        "keeps failing, report it with the command line you used."
    )
