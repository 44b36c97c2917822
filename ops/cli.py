"""The `ops` command. One error boundary turns what went wrong into a paragraph and an exit code.

OpsError carries its own; failed AWS calls (network, credentials, permissions, throttling)
are classified by ops.aws.aws_failure; anything else is an internal error. Every command
gets --output and --debug from the group it is added to.

Imports of boto3, moto and redis happen inside commands that need AWS, so `ops --help`,
`ops validate` and `ops steps` start fast.
"""

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Optional

import click

from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_STEP_FAILED, BadInput, OpsError
from .output import chosen_output

SINGLE_DASH_LONG = re.compile(r"-[A-Za-z][A-Za-z0-9-]+")  # -dry-run, meant as --dry-run


def _remember(ctx, param, value):
    """--output and --debug are kept on the root context, where the error boundary looks."""
    root = ctx.find_root()
    root.ensure_object(dict)
    root.obj[param.name] = value
    return value


def output_options():
    return [
        click.Option(
            ["--output"],
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            expose_value=False,
            is_eager=True,
            callback=_remember,
            help="text for people, json for machines (one JSON event per line, or one document).",
        ),
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_remember,
            help="Show the traceback of an error.",
        ),
    ]


class CommandGroup(click.Group):
    """A group whose every command (and every command of its subgroups) takes --output and --debug."""

    def add_command(self, cmd, name=None):
        if not isinstance(cmd, click.Group):
            present = {param.name for param in cmd.params}
            cmd.params.extend(option for option in output_options() if option.name not in present)
        super().add_command(cmd, name)


CommandGroup.group_class = CommandGroup


class OpsGroup(CommandGroup):
    def parse_args(self, ctx, args):
        ctx.meta["ops.args"] = list(args)  # the words as typed, for usage errors
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # one paragraph, like every other bad input
            command = exc.ctx.command_path if exc.ctx else "ops"
            click.echo(
                f"ops: error: {_usage_problem(exc, ctx.meta.get('ops.args', []))} See '{command} --help'.", err=True
            )
            ctx.exit(EXIT_BAD_INPUT)
        except OpsError as exc:
            _report_error(ctx, exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("ops: interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback unless --debug
            from .aws import aws_failure

            failure = aws_failure(exc)
            if failure is not None:  # the network, the credentials or AWS: not a bug in ops
                _report_error(ctx, failure)
                ctx.exit(failure.exit_code)
            if _debug(ctx):
                _print_traceback()
            click.echo(
                f"ops: internal error: {exc.__class__.__name__}: {exc}. "
                "Re-run with --debug for the traceback, and please report it.",
                err=True,
            )
            ctx.exit(EXIT_STEP_FAILED)


def _usage_problem(exc: click.UsageError, args) -> str:
    """click's message, except for a long option typed with one dash (-dry-run), which click
    reads as short options (-d): say what was meant."""
    if isinstance(exc, click.NoSuchOption) and exc.ctx is not None:
        known = {opt for param in exc.ctx.command.params for opt in param.opts + param.secondary_opts}
        for word in args:
            if SINGLE_DASH_LONG.fullmatch(word) and word.startswith(exc.option_name):
                if "-" + word in known:
                    return f"'{word}' is not an option: long options take two dashes. Did you mean '-{word}'?"
                return f"'{word}' is not an option: long options take two dashes, and '-{word}' is not one either."
    return exc.format_message()


def _debug(ctx) -> bool:
    return bool((ctx.find_root().obj or {}).get("debug"))


def _print_traceback() -> None:
    import traceback

    traceback.print_exc()


def _report_error(ctx, exc: OpsError) -> None:
    if _debug(ctx):
        _print_traceback()
    prefix = "ops: error: " if isinstance(exc, BadInput) else "ops: "
    click.echo(prefix + str(exc), err=True)
    if (ctx.find_root().obj or {}).get("output") == "json":
        import json

        click.echo(json.dumps({"event": "error", "exit_code": exc.exit_code, "message": exc.message, "hint": exc.hint}))


def common_options(command):
    """--region/--profile/--var/--config, on every command that talks to AWS or reads a playbook."""
    options = [
        click.option("--region", envvar=None, help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile)."),
        click.option("--profile", help="AWS named profile (default: AWS_PROFILE)."),
        click.option("--var", "var_flags", multiple=True, metavar="KEY=VALUE", help="Set a playbook var (repeatable)."),
        click.option(
            "--config",
            "config_files",
            multiple=True,
            type=click.Path(),
            metavar="FILE",
            envvar="OPS_CONFIG",
            help="Config file with vars and settings (repeatable; later wins; default: OPS_CONFIG, files separated by ':').",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _load(playbook_path, var_flags, config_files, allow_public_ingress=False):
    from .commands.config import load_settings, parse_var_flags
    from .engine.playbook import check_ingress_sources, load_playbook

    settings, overrides, override_source = load_settings(config_files)
    flags = parse_var_flags(var_flags)
    for key, value in flags.items():  # --var wins, and has no file line
        overrides[key] = value
        overrides.key_lines.pop(key, None)
        overrides.sources[key] = "--var"
    playbook = load_playbook(playbook_path, overrides, override_source if not flags else "--var")
    check_ingress_sources(playbook, allow_public_ingress)
    return playbook, settings


def state_option(command):
    return click.option(
        "--state",
        "state_flag",
        envvar="OPS_STATE",
        metavar="s3://BUCKET/PREFIX",
        help="Keep lab records in S3, shared by a team (default: 'state:' in config, else .ops/ here). Env: OPS_STATE.",
    )(command)


def lock_timeout_option(command):
    return click.option(
        "--lock-timeout",
        metavar="DURATION",
        help="With records in S3: wait this long for another run's lock on the lab "
        "(default 0: fail at once, naming the holder).",
    )(command)


def _shared_records(state_flag, lock_timeout, settings):
    """(where records live, lock options) from --state/--lock-timeout, else the config."""
    from .durations import parse_wait
    from .engine.lock import LockOptions
    from .engine.records import parse_location

    location = parse_location(state_flag) if state_flag else settings.get("state")
    wait = settings["lock_timeout"]
    if lock_timeout is not None:
        try:
            wait = parse_wait(lock_timeout)
        except ValueError as exc:
            raise BadInput(f"--lock-timeout: {exc}.", "Write e.g. --lock-timeout 10m.") from None
    return location, LockOptions(wait=wait, lease=settings["lock_lease"])


def _target(settings, dry_run, region, profile, state_flag=None, lock_timeout=None, **simulation):
    """Where the command acts (ops/engine/target.py), decided once from its flags and the config.
    simulation: realtime, throwaway (a fresh account for previews), sim_durations."""
    from .engine.target import RunTarget

    location, lock = _shared_records(state_flag, lock_timeout, settings)
    simulation.setdefault("sim_durations", settings["sim_durations"])
    return RunTarget(
        root=Path.cwd(),
        dry_run=dry_run,
        region=region,
        profile=profile,
        config_region=settings.get("region"),
        location=location,
        lock=lock,
        **simulation,
    )


allow_public_ingress_option = click.option(
    "--allow-public-ingress",
    is_flag=True,
    help="Allow ec2.ingress steps with a CIDR source (0.0.0.0/0 and ::/0 are refused regardless).",
)


member_option = click.option(
    "--member",
    "member_flags",
    multiple=True,
    metavar="[COPY=]ARN",
    help="Share the lab's Cloud9 environment, read-write, with this IAM user or role session (a role as "
    "arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION); removed on teardown. Repeatable; with copies, "
    "COPY=ARN shares that copy only.",
)


def _members(flags, lab: str, copies):
    """{lab: member ARNs} from --member flags (ops/members.py), checked before anything is made."""
    from .members import members_by_lab

    return members_by_lab(flags, lab, copies)


def _say(text: str) -> None:
    """A command's one-line result: as text, or as a JSON note event."""
    if chosen_output() == "json":
        import json

        click.echo(json.dumps({"event": "note", "text": text}))
    else:
        click.echo(text)


def _copy_names(names):
    if names is None:
        return None
    from .names import COPY_RE

    parsed = [n.strip() for n in names.split(",") if n.strip()]
    bad = [n for n in parsed if not COPY_RE.fullmatch(n)]
    if not parsed or bad or len(set(parsed)) != len(parsed):
        raise BadInput(
            f"--names {names!r}: give distinct names of 1-12 lowercase letters, digits or hyphens.",
            "They become part of resource names, e.g. --names alice,bob.",
        )
    return parsed


def _reporter(output=None):
    """Text lines, JSON lines (--output, unless output is given), or (text on a terminal) the
    live view, closed when the command ends."""
    from .output import Reporter

    output = output or chosen_output()
    live = None
    if output == "text" and sys.stdout.isatty():
        from .live import LiveView

        live = LiveView()
        click.get_current_context().call_on_close(live.close)
    reporter = Reporter(output, live=live)
    from .crashpoints import from_environment

    crash = from_environment()
    if crash:
        reporter.listen(crash)
    return reporter


@click.group(cls=OpsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ops-lab", prog_name="ops")
def cli():
    """ops: run a cloud lab from a playbook, rehearse it offline, and leave nothing behind.

    \b
      ops run playbooks/lab.yaml --dry-run   rehearse offline (moto, no account, no charges)
      ops run playbooks/lab.yaml             run it in your AWS account
      ops teardown playbooks/lab.yaml        delete what a run created
    """


@cli.command()
@click.argument("playbook", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Run against a simulated AWS account (moto): no account, no charges.")
@click.option("--keep", is_flag=True, help="Stop before the delete phase and keep the lab up.")
@click.option("--realtime", is_flag=True, help="With --dry-run: simulated resources take their real time.")
@click.option("--count", type=click.IntRange(1, 500), help="Provision N independent copies of the lab (LAB-1..N).")
@click.option("--names", help="Comma-separated copy names instead of numbers, e.g. alice,bob (LAB-alice, ...).")
@click.option(
    "--parallel",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="With --count/--names: how many copies are worked on at once.",
)
@click.option("--teardown-on-failure", is_flag=True, help="If a step fails, delete what the run made.")
@click.option(
    "--teardown",
    "always_teardown",
    is_flag=True,
    help="Always delete everything at the end: success, failure or Ctrl-C (CI rehearsals).",
)
@click.option("--yes", is_flag=True, help="Do not ask before creating billable resources (asked only on a terminal).")
@click.option(
    "--ttl",
    help="How long the lab may live (e.g. 2h; default: the config's ttl, 4h): its expiry is tagged, recorded "
    "and armed in the account, which deletes what bills if ops is gone; 'none': no expiry (a warning).",
)
@member_option
@allow_public_ingress_option
@state_option
@lock_timeout_option
@common_options
def run(
    playbook,
    dry_run,
    keep,
    realtime,
    count,
    names,
    parallel,
    teardown_on_failure,
    always_teardown,
    yes,
    ttl,
    member_flags,
    allow_public_ingress,
    state_flag,
    lock_timeout,
    region,
    profile,
    var_flags,
    config_files,
):
    """Create the lab, run its checks, then delete everything it created."""
    from .commands.lab import run_labs
    from .interrupts import graceful_interrupts

    if keep and always_teardown:
        raise BadInput("--keep and --teardown contradict each other.", "Use one of them.")
    if realtime and not dry_run:
        raise BadInput("--realtime only applies to a dry run.", "Add --dry-run, or drop --realtime.")
    if count and names:
        raise BadInput("--count and --names both say how many copies.", "Use one of them.")
    copy_names = _copy_names(names)
    loaded, settings = _load(playbook, var_flags, config_files, allow_public_ingress)
    expires_in = settings["ttl"] = _ttl(ttl, settings)  # the plan shows it too
    copies = copy_names or ([str(index) for index in range(1, count + 1)] if count else None)
    settings["members"] = _members(member_flags, loaded.name, copies)  # so does this
    target = _target(settings, dry_run, region, profile, state_flag, lock_timeout, realtime=realtime)
    from .commands.lab import check_before_run

    if not dry_run and not yes and chosen_output() == "text" and interactive():
        _preview_and_confirm(loaded, settings, target, count or len(copy_names or []) or 1)
    with contextlib.ExitStack() as checks:  # refused input leaves the account as it found it
        account = target.on_demand(checks)  # opened only if a check needs it
        # token sources readable, node types offered, members in the account: before anything
        check_before_run(loaded, account, dry_run, settings["members"])
        aws = account()  # the run uses the same account (None: a simulated one not made yet)
        for_the_run = checks.pop_all()
    with graceful_interrupts(), _ending_idle_simulation(target), for_the_run:
        code = run_labs(
            loaded,
            target,
            aws=aws,
            reporter=_reporter(),
            settings=settings,
            keep=keep,
            names=copy_names,
            count=count,
            parallel=parallel,
            teardown_on_failure=teardown_on_failure,
            always_teardown=always_teardown,
            expires_in=expires_in,
        )
    if code:
        sys.exit(code)


@cli.command()
@click.argument("playbook")
@click.option("--dry-run", is_flag=True, help="Tear down a simulated lab.")
@click.option(
    "--include-adopted",
    is_flag=True,
    help="Also delete what the run used but did not create (off by default: never over-delete).",
)
@state_option
@lock_timeout_option
@common_options
def teardown(playbook, dry_run, include_adopted, state_flag, lock_timeout, region, profile, var_flags, config_files):
    """Delete what the last run of a playbook (or lab name) created, from its record."""
    from .commands.config import load_settings
    from .commands.lab import teardown_lab

    lab = _lab_named(playbook, var_flags)
    settings, _, _ = load_settings(config_files)
    target = _target(settings, dry_run, region, profile, state_flag, lock_timeout)
    with _ending_idle_simulation(target):
        code = teardown_lab(lab, target, reporter=_reporter(), settings=settings, include_adopted=include_adopted)
    if code:
        sys.exit(code)


def _lab_named(argument: str, var_flags) -> str:
    """teardown's and status's argument: a playbook file (its lab), or a lab's name, checked before it is used."""
    from .names import check_lab, is_lab_name, shown

    path = Path(argument)
    if _is(path, "file"):
        return _load(argument, var_flags, (), allow_public_ingress=True)[0].name
    if _is(path, "dir"):
        raise BadInput(f"{shown(argument)} is a directory, not a playbook file.", "Name the .yaml file, or the lab.")
    if is_lab_name(argument):
        return argument
    if any(c in argument for c in "./\\"):  # lab names have none of these: this was meant as a path
        import difflib

        siblings = [p.name for p in path.parent.glob("*.yaml")] if _is(path.parent, "dir") else []
        close = difflib.get_close_matches(path.name, siblings, n=1)
        raise BadInput(
            f"playbook file {shown(argument)} not found.",
            f"Did you mean '{close[0]}'?"
            if close
            else "Check the path, or give the lab's name (the playbook's 'name:').",
        )
    return check_lab(argument)


def _is(path: Path, kind: str) -> bool:
    """path.is_file() / is_dir(), False for what cannot be a path here (too long, a NUL in it)."""
    try:
        return path.is_file() if kind == "file" else path.is_dir()
    except (OSError, ValueError):
        return False


@cli.command()
@click.argument("playbook", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Plan against a fresh simulated account.")
@click.option("--ttl", help="The run's time to live, as ops run takes it (default: the config's ttl).")
@member_option
@allow_public_ingress_option
@common_options
def plan(playbook, dry_run, ttl, member_flags, allow_public_ingress, region, profile, var_flags, config_files):
    """Show what a run would create, adopt and change, what it would cost, and what would break it."""
    import json

    from .commands.plan import make_plan
    from .commands.pricing import Prices

    loaded, settings = _load(playbook, var_flags, config_files, allow_public_ingress)
    settings["ttl"] = _ttl(ttl, settings)
    settings["members"] = _members(member_flags, loaded.name, None)
    prices = Prices.load()
    with _target(settings, dry_run, region, profile, throwaway=True).open() as aws:
        result = make_plan(loaded, aws, _reporter(), settings, prices)
    if chosen_output() == "json":
        click.echo(json.dumps(result.to_json()))
    else:
        click.echo("\n".join(result.lines()))
    if not result.ready:
        sys.exit(1)


@cli.command()
@click.argument("lab_or_playbook", metavar="[LAB]", required=False)
@click.option("--names", help="A class's copies of the lab, as 'ops run --names' named them, e.g. alice,bob.")
@click.option(
    "--count", type=click.IntRange(1, 500), help="A class's copies of the lab, as 'ops run --count N' named them."
)
@click.option("--dry-run", is_flag=True, help="Labs of dry runs (in the simulated account).")
@state_option
@common_options
def status(lab_or_playbook, names, count, dry_run, state_flag, region, profile, var_flags, config_files):
    """Every lab recorded here (or in S3 with --state): what exists now, its age, $/hour and cost so far.

    With a lab (or its playbook file): a table of its copies (those named by --names or --count,
    else those recorded), each kept, torn down or none, with its host's URL, time left and cost so far.
    """
    import json

    from .commands.config import load_settings
    from .commands.status import team_status

    if (names or count) and lab_or_playbook is None:
        raise BadInput(
            "--names and --count say which copies of a lab: name the lab too.", "E.g. ops status LAB --names alice,bob."
        )
    if count and names:
        raise BadInput("--count and --names both say which copies.", "Use one of them.")
    copy_names = _copy_names(names)
    lab = None if lab_or_playbook is None else _lab_named(lab_or_playbook, var_flags)
    settings, _, _ = load_settings(config_files)
    target = _target(settings, dry_run, region, profile, state_flag, sim_durations={})
    document: Any  # a list of labs, or the copies
    with _ending_idle_simulation(target if target.location is not None else None):
        if lab is None:
            report = team_status(target)
            lines, document = report.lines(), report.to_json()
        else:
            from .commands.lab import lab_names
            from .commands.roster import recorded_copies, roster, roster_json, roster_lines

            rows = roster(
                target, lab_names(lab, count, copy_names) if count or copy_names else recorded_copies(target, lab)
            )
            lines, document = roster_lines(rows), roster_json(rows)
    click.echo(json.dumps(document) if chosen_output() == "json" else "\n".join(lines))


@cli.command()
@click.argument("lab")
@click.option("--by", "by", help="Move the expiry this much later (e.g. 2h).")
@click.option("--until", "until", help="Expire at this time instead (ISO 8601, UTC unless it says: 2026-12-03T18:00).")
@click.option("--dry-run", is_flag=True, help="A lab of a dry run (in the simulated account).")
@state_option
@lock_timeout_option
@common_options
def extend(lab, by, until, dry_run, state_flag, lock_timeout, region, profile, var_flags, config_files):
    """Let a kept lab live longer: its record, its ops:expires tag and its dead man's switch move together."""
    from .commands.config import load_settings
    from .commands.extend import extend_lab
    from .names import check_lab

    check_lab(lab)
    if (by is None) == (until is None):
        raise BadInput("ops extend needs one of --by and --until.", "E.g. ops extend LAB --by 2h.")
    settings, _, _ = load_settings(config_files)
    target = _target(settings, dry_run, region, profile, state_flag, lock_timeout)
    with _ending_idle_simulation(target):
        code = extend_lab(lab, target, by=_by(by), until=_until(until), reporter=_reporter())
    if code:
        sys.exit(code)


@cli.command()
@click.argument("lab")
@click.option("--dry-run", is_flag=True, help="A lab of a dry run: a local shell standing in for its simulated host.")
@state_option
@common_options
def shell(lab, dry_run, state_flag, region, profile, var_flags, config_files):
    """A shell on a kept lab's client host, in its lesson folder (a copy: LAB-alice).

    Real labs: through Session Manager (`aws ssm start-session`; needs the AWS CLI and the
    Session Manager plugin, see `ops doctor`). Dry runs: bash in the simulated host's folder,
    with REDIS_HOSTNAME naming the cache and the host's `aws` on PATH.
    """
    from .commands.config import load_settings
    from .commands.lab_host import lab_hosts
    from .names import check_lab

    check_lab(lab)
    if not dry_run:
        from .commands.session_tools import require_session_tools

        require_session_tools()
    settings, _, _ = load_settings(config_files)
    target = _target(settings, dry_run, region, profile, state_flag)
    if dry_run:
        from .commands.shell import simulated_shell

        with _ending_idle_simulation(target), lab_hosts(target, lab, "shell", cache=True) as (aws, hosts):
            code = simulated_shell(aws, hosts[0])
        sys.exit(code)
    from .commands.shell import exec_session, session_argv

    with lab_hosts(target, lab, "shell", cache=True) as (_, hosts):
        session_argv(hosts[0], profile)  # refuses a host without an instance before ops is replaced
    exec_session(hosts[0], profile)


@cli.command("open")
@click.argument("lab")
@click.option("--no-browser", is_flag=True, help="Print the URL only.")
@click.option("--dry-run", is_flag=True, help="A lab of a dry run (its URLs name simulated resources).")
@state_option
@common_options
def open_command(lab, no_browser, dry_run, state_flag, region, profile, var_flags, config_files):
    """Where to step into a kept lab: the Cloud9 IDE, or Session Manager's page and the 'ops shell' line.

    For a lab with copies (--count/--names), a table of every copy: lab, URL and time left.
    """
    import json

    from .clock import wall_time
    from .commands.config import load_settings
    from .commands.lab_host import lab_hosts
    from .commands.open_lab import host_url, rows, shared_line, shell_line, table_lines
    from .names import check_lab

    check_lab(lab)
    settings, _, _ = load_settings(config_files)
    target = _target(settings, dry_run, region, profile, state_flag)
    with _ending_idle_simulation(target), lab_hosts(target, lab, "open", every=True) as (aws, hosts):
        now = aws.clock.wall() if dry_run else wall_time()
    exact = [h for h in hosts if h.lab == lab]
    if len(hosts) > 1 or not exact:
        table = rows(sorted(hosts, key=lambda h: h.lab), now)
        if chosen_output() == "json":
            labs = [
                {"lab": r.host.lab, "url": r.url, "time_left": r.time_left, "members": list(r.host.members)}
                for r in table
            ]
            click.echo(json.dumps({"labs": labs}))
        else:
            click.echo("\n".join(table_lines(table)))
        return
    host = exact[0]
    url = host_url(host)
    if chosen_output() == "json":
        shell = shell_line(host, dry_run)
        click.echo(json.dumps({"lab": host.lab, "url": url, "shell": shell, "members": list(host.members)}))
        return
    click.echo(url)
    if shared_line(host):
        click.echo(shared_line(host))
    if host.kind != "cloud9":
        click.echo(f"or, in a terminal: {shell_line(host, dry_run)}")
    if not no_browser and not dry_run and _browser_available():
        import webbrowser

        webbrowser.open(url)


def _browser_available() -> bool:
    """A person at a terminal with a graphical session (a display, or macOS / Windows) and a browser."""
    import webbrowser

    if not interactive():
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


@cli.command("exec")
@click.argument("lab")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--dry-run", is_flag=True, help="A lab of a dry run (its simulated host).")
@state_option
@common_options
def exec_(lab, command, dry_run, state_flag, region, profile, var_flags, config_files):
    """Run one command on a kept lab's host (SSM Run Command), in ~/lesson, and exit with its code.

    \b
      ops exec LAB -- python3 test_connection.py
      ops exec LAB -- python3 fetch_restaurant_summary.py "The Vineyard"
    """
    import json

    from .commands.config import load_settings
    from .commands.exec_command import exec_on_lab
    from .names import check_lab

    check_lab(lab)
    settings, _, _ = load_settings(config_files)
    target = _target(settings, dry_run, region, profile, state_flag)
    as_json = chosen_output() == "json"

    def write(text: str, is_error: bool) -> None:
        if text and not as_json:
            click.echo(text, nl=False, err=is_error)

    with _ending_idle_simulation(target):
        result = exec_on_lab(lab, list(command), target, write)
    if as_json:
        click.echo(json.dumps({"event": "exec", **result}))
    code = result["exit_code"]
    if not 0 <= code <= 255:  # SSM's -1: the command could not run, or timed out
        click.echo(f"ops: the command ended without an exit code ({code}) on {result['instance_id']}.", err=True)
        code = 1
    sys.exit(code)


def _by(value) -> Optional[float]:
    if value is None:
        return None
    from .durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadInput(f"--by: {exc}.", "Write e.g. --by 2h.") from None


def _until(value) -> Optional[float]:
    if value is None:
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"--until: '{value}' is not a time like 2026-12-03T18:00.", "Times are UTC unless they say."
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


@cli.command()
@click.option("--older-than", help="Only resources at least this old (e.g. 2h, 30m), by their ops:created tag.")
@click.option("--playbook", "lab", metavar="NAME", help="Only resources of this lab (the playbook's name).")
@click.option("--yes", is_flag=True, help="Delete what was found (otherwise: preview only).")
@click.option(
    "--expired",
    is_flag=True,
    help="Instead: tear down the labs recorded here whose --ttl has passed, then what carries a passed ops:expires tag.",
)
@click.option("--dry-run", is_flag=True, help="Sweep the simulated account.")
@state_option
@common_options
def sweep(older_than, lab, yes, expired, dry_run, state_flag, region, profile, var_flags, config_files):
    """Find every ops-tagged resource in the region, even with no state file; delete on --yes."""
    from .commands.config import load_settings
    from .commands.sweep import sweep_account, sweep_expired
    from .durations import parse_duration

    if lab is not None:
        from .names import check_lab

        check_lab(lab, "--playbook")
    settings, _, _ = load_settings(config_files)
    if expired:
        target = _target(settings, dry_run, region, profile, state_flag)
        with _ending_idle_simulation(target):
            code = sweep_expired(target, reporter=_reporter(), settings=settings, confirmed=yes)
    else:
        try:
            age = parse_duration(older_than) if older_than else None
        except ValueError as exc:
            raise BadInput(f"--older-than: {exc}.", "Write e.g. --older-than 2h.") from None

        def confirm(count: int) -> bool:
            return yes or (sys.stdin.isatty() and click.confirm(f"Delete these {count} resource(s)?", default=False))

        target = _target(settings, dry_run, region, profile)
        with _ending_idle_simulation(target):
            code = sweep_account(
                target, settings=settings, reporter=_reporter(), older_than=age, lab=lab, confirm=confirm
            )
    if code:
        sys.exit(code)


def _ttl(ttl, settings) -> Optional[float]:
    """--ttl's seconds, else the config's ttl (None: the lab never expires)."""
    if ttl is None:
        return settings.get("ttl")
    from .durations import parse_ttl

    try:
        return parse_ttl(ttl)
    except ValueError as exc:
        raise BadInput(f"--ttl: {exc}.", "Write e.g. --ttl 2h, or --ttl none.") from None


def interactive() -> bool:
    """Asking makes sense only when a person is at a terminal (tests replace this)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _preview_and_confirm(playbook, settings, target, copies: int) -> None:
    from .commands.plan import make_plan
    from .commands.pricing import Prices

    with target.open() as aws:
        result = make_plan(playbook, aws, _reporter("text"), settings, Prices.load())
    click.echo("\n".join(result.lines()))
    if copies > 1:
        click.echo(f"(times {copies} copies: about ${result.hourly * copies:.3f}/hour)")
    if not click.confirm("Create these resources?", default=False):
        click.echo("ops: cancelled; nothing was created.")
        sys.exit(1)


@contextlib.contextmanager
def _ending_idle_simulation(target):
    """After a dry-run command, end the simulated account if no lab is left in it."""
    try:
        yield
    finally:
        if target is not None and target.dry_run:
            from .commands.dryrun_account import discard_simulation_if_idle

            discard_simulation_if_idle(target.root)


@cli.command()
@click.argument("playbook", type=click.Path(dir_okay=False))
@allow_public_ingress_option
@common_options
def validate(playbook, allow_public_ingress, region, profile, var_flags, config_files):
    """Check a playbook without touching AWS."""
    import json

    loaded, _ = _load(playbook, var_flags, config_files, allow_public_ingress)
    if chosen_output() == "json":
        click.echo(json.dumps({"event": "valid", "playbook": playbook, **loaded.to_json()}))
    else:
        click.echo(f"{playbook}: valid: {loaded.summary()}.")


@cli.command()
@click.argument("step_type", required=False)
def steps(step_type):
    """List step types, or describe one: parameters, outputs, an example."""
    import json

    from .steps import playbook_types

    types = playbook_types()
    if step_type is not None and step_type not in types:
        raise BadInput(f"unknown step type '{step_type}'.", f"Known: {', '.join(sorted(types))}.")
    if chosen_output() == "json":
        described = [types[name].to_json() for name in ([step_type] if step_type else sorted(types))]
        click.echo(json.dumps(described[0] if step_type else described, default=str))
    elif step_type is None:
        click.echo("\n".join(f"{name:<22} {types[name].summary}" for name in sorted(types)))
    else:
        click.echo("\n".join(types[step_type].describe()))


@cli.group()
def demo():
    """Run the lab's demos on their own (e.g. from a host inside the VPC)."""


def _add_commands():
    from .demo.command import cache_aside

    demo.add_command(cache_aside)


_add_commands()


@cli.command("report")
@click.argument("run", required=False)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write a self-contained HTML page to FILE instead of the terminal chart.",
)
@click.option(
    "--dry-run/--real", "dry_run", default=None, help="Only dry runs / only real runs (default: either, the newest)."
)
@click.option("--width", type=click.IntRange(min=40), help="Columns for the chart (default: the terminal's).")
@click.option(
    "--waits",
    is_flag=True,
    help="Instead: how long each wait took in earlier runs (real ones; dry runs' with --dry-run), "
    "per region, wait and size, and the expectation a run uses now.",
)
@click.option(
    "--state",
    "state_flag",
    envvar="OPS_STATE",
    metavar="s3://BUCKET/PREFIX",
    help="With --waits: the history of the runs whose records are in S3, a team's (default: 'state:' in "
    "config, else .ops/ here). Env: OPS_STATE.",
)
@common_options
def report(run, html_file, dry_run, width, waits, state_flag, region, profile, var_flags, config_files):
    """Where the time of a run went: a Gantt chart of its steps and teardown.

    RUN is a lab name or a run id (default: the newest timeline under ./.ops). With
    --output json: the figures and the rows, with every phase, as one document.

    With --waits: what runs here (or, with --state, a team's runs) learned about each wait,
    and whether a run expects the learned time, the config's (--config) or the built-in one.
    """
    import json
    import shutil

    if waits:
        _report_waits(run, html_file, width, dry_run, state_flag, region, profile, config_files)
        return
    from .commands.report_data import find_run_timeline, phases, read_timeline, rows, summary

    path = find_run_timeline(run, dry_run)
    timeline = read_timeline(path)
    as_json = chosen_output() == "json"
    if html_file is None and as_json:
        click.echo(json.dumps({"timeline": str(path), **summary(timeline), "rows": rows(phases(timeline))}))
        return
    if html_file is None:
        from .commands.report import chart_lines

        columns = width or shutil.get_terminal_size().columns
        click.echo("\n".join(line.rstrip() for line in chart_lines(timeline, columns)))
        return
    from .commands.report_html import render_html

    html_file.write_text(render_html(timeline), encoding="utf-8")
    written = f"ops: report written to {html_file}"
    if as_json:
        written = json.dumps({"event": "note", "text": written})
    click.echo(written)


def _report_waits(run, html_file, width, dry_run, state_flag, region, profile, config_files):
    import json

    from .commands.config import load_settings
    from .commands.report_waits import learned_waits

    if run or html_file or width:
        raise BadInput(
            "--waits shows every learned wait as one table: it takes no RUN, --html or --width.",
            "Drop them, or drop --waits for a run's chart.",
        )
    settings, _, _ = load_settings(config_files)
    built_in = load_settings(())[0]["expected"]
    target = _target(settings, bool(dry_run), region, profile, state_flag, sim_durations={})
    with _ending_idle_simulation(target if target.location is not None else None):
        table = learned_waits(target, settings, built_in)
    click.echo(json.dumps(table.to_json()) if chosen_output() == "json" else "\n".join(table.lines()))


@cli.command()
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Examine a fresh simulated account.")
@state_option
@common_options
def doctor(playbook, dry_run, state_flag, region, profile, var_flags, config_files):
    """Check this account and region for what would stop a lab; end with what to fix first."""
    import json

    from .commands.config import load_settings
    from .commands.doctor import doctor as diagnose

    loaded, settings = (
        _load(playbook, var_flags, config_files, True) if playbook else (None, load_settings(config_files)[0])
    )
    diagnosis = diagnose(_target(settings, dry_run, region, profile, state_flag, throwaway=True), loaded)
    click.echo(json.dumps(diagnosis.to_json()) if chosen_output() == "json" else "\n".join(diagnosis.lines()))
    if not diagnosis.ready:
        sys.exit(1)


@cli.group()
def sim():
    """The dry runs' simulated account (it lives in .ops/dry-run/account)."""


@sim.command("reset")
def sim_reset():
    """Discard the simulated account: its servers, its resources and the dry-run records."""
    import shutil

    from .paths import sim_home, state_dir
    from .sim.world import SimWorld

    SimWorld.destroy(sim_home(Path.cwd()))
    shutil.rmtree(state_dir(Path.cwd(), dry_run=True), ignore_errors=True)
    _say("ops: the simulated account and its dry-run records are gone.")


@sim.command("advance")
@click.argument("duration")
def sim_advance(duration):
    """Let simulated time pass in the account: what falls due meanwhile happens (a kept lab's switch)."""
    from .commands.dryrun_account import advance
    from .durations import parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise BadInput(f"{exc}.", "Write e.g. ops sim advance 30m.") from None
    _say(advance(Path.cwd(), seconds))


def _required_location(state_flag, lock_timeout, config_files, command: str, dry_run, region, profile):
    """The target of a command that works on records in S3: refused without a location."""
    from .commands.config import load_settings

    settings, _, _ = load_settings(config_files)
    target = _target(settings, dry_run, region, profile, state_flag, lock_timeout)
    if target.location is None:
        raise BadInput(
            f"'ops {command}' works on records kept in S3, and no location was given.",
            "Pass --state s3://BUCKET/PREFIX (or set OPS_STATE, or 'state:' in a config file).",
        )
    return target


@cli.command()
@click.argument("lab")
@click.option("--dry-run", is_flag=True, help="The lock in the simulated account's S3.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Also when the holder's lease is still running (it may still be working!).")
@state_option
@common_options
def unlock(lab, dry_run, yes, force, state_flag, region, profile, var_flags, config_files):
    """Take over the lock of a lab whose holder is gone (its lease ran out)."""
    from .commands.remote import unlock as unlock_lab
    from .names import check_lab

    check_lab(lab)
    target = _required_location(state_flag, None, config_files, "unlock", dry_run, region, profile)
    location = target.location

    def confirm(description: str) -> bool:
        click.echo(f"ops: {description}", err=True)
        if yes:
            return True
        if not interactive():
            raise BadInput(
                "removing a lock needs confirmation, and nobody is at a terminal to give it.",
                f"Re-run with --yes: ops unlock {lab} --yes --state {location.url}",
            )
        return click.confirm("Remove this lock?", default=False)

    with _ending_idle_simulation(target):
        _say(unlock_lab(lab, target, force=force, confirm=confirm))


@cli.group("state")
def state_group():
    """Move a lab's record between this folder (.ops/) and S3 (--state)."""


def _move_command(direction: str, summary: str):
    @state_group.command(direction, help=summary)
    @click.argument("lab")
    @click.option("--dry-run", is_flag=True, help="Records of dry runs (the simulated account's S3).")
    @click.option("--force", is_flag=True, help="Replace a record that still lists another run's live resources.")
    @state_option
    @lock_timeout_option
    @common_options
    def command(lab, dry_run, force, state_flag, lock_timeout, region, profile, var_flags, config_files):
        from .commands.remote import move
        from .names import check_lab

        check_lab(lab)
        target = _required_location(
            state_flag, lock_timeout, config_files, f"state {direction}", dry_run, region, profile
        )
        with _ending_idle_simulation(target):
            _say(move(lab, direction, target, force=force, reporter=_reporter()))

    return command


_move_command("push", "Move a lab's record from this folder to S3 (--state), under the lab's lock.")
_move_command("pull", "Move a lab's record from S3 (--state) to this folder, under the lab's lock.")


@cli.command("iam-policy")
@click.argument("playbook", type=click.Path(dir_okay=False))
@click.option("--account", metavar="ID", help="Limit the policy to this AWS account (default: any).")
@click.option(
    "--split",
    is_flag=True,
    help="Print a JSON list of policies that each fit IAM's 6,144-character limit for a managed policy.",
)
@state_option
@common_options
def iam_policy(playbook, account, split, state_flag, region, profile, var_flags, config_files):
    """Print the least-privilege IAM policy that running this playbook needs (with --state: and its records)."""
    import json

    from .commands.iam_policy import MANAGED_POLICY_LIMIT, policy_for, policy_size, scope_for, split_policy

    loaded, settings = _load(playbook, var_flags, config_files, allow_public_ingress=True)
    location, _ = _shared_records(state_flag, None, settings)
    policy = policy_for(loaded, location, scope_for(region or settings.get("region"), profile, account))
    size = policy_size(policy)
    if split:
        parts = split_policy(policy)
        click.echo(json.dumps(parts, indent=2))
        click.echo(
            f"ops: {len(parts)} policies, each at most {MANAGED_POLICY_LIMIT:,} characters: attach all of them.",
            err=True,
        )
        return
    click.echo(json.dumps(policy, indent=2))
    if size > MANAGED_POLICY_LIMIT:
        click.echo(
            f"ops: note: this policy has {size:,} characters; an IAM managed policy holds at most "
            f"{MANAGED_POLICY_LIMIT:,} (an inline policy on a role 10,240). Use --split for policies that "
            "each fit, and attach all of them.",
            err=True,
        )


@cli.command()
@click.option("--write", type=click.Path(dir_okay=False), help="Write it to this file instead of printing it.")
def schema(write):
    """Print the JSON Schema of playbooks (for editors: see playbooks/*.yaml's first line)."""
    import json

    from .commands.schema import playbook_schema

    text = json.dumps(playbook_schema(), indent=2, sort_keys=True) + "\n"
    if write:
        Path(write).write_text(text)
        _say(f"ops: schema written to {write}")
    else:
        click.echo(text, nl=False)


def main():
    try:
        cli(prog_name="ops")
    finally:
        _quiet_if_the_reader_left()


def _quiet_if_the_reader_left() -> None:
    """After `ops ... | head`, Python's last flush of stdout at exit would fail with a
    BrokenPipeError traceback; point stdout at /dev/null instead (Python's documented recipe)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    main()
