"""The docs show what the code prints today.

Every sample output in README.md and docs/ is regenerated here from real dry runs (in a few
independent sessions, each in a folder of its own) and compared with the committed text; the reference pages
generated from the step types and the click commands must match the code; README's links into
docs/ must lead somewhere; the architecture page must name every module. When this fails, run
`python docs/gen_docs.py` and commit what it changed.
"""

import functools
import importlib.util
import re
from pathlib import Path

import ops_forkserver
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "docs" / "gen_docs.py")
gen_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_docs)

FIX = f"Run `{gen_docs.REGENERATE}` and commit what it changed."


def committed_samples():
    return [(page, name, text) for page in gen_docs.doc_files() for name, text in gen_docs.sample_blocks(page)]


def test_every_sample_in_the_docs_comes_from_a_session():
    found = committed_samples()
    assert found, "no <!-- sample:NAME --> blocks found in README.md or docs/"
    run = {key for commands in gen_docs.SESSIONS.values() for key, _ in commands}
    for page, name, _ in found:
        assert name in gen_docs.SAMPLES, f"{page.relative_to(ROOT)}: unknown sample '{name}'"
        assert gen_docs.SAMPLES[name].run in run, f"sample {name}: no session runs '{gen_docs.SAMPLES[name].run}'"


@pytest.mark.parametrize("session", sorted(gen_docs.SESSIONS))
def test_every_sample_in_the_docs_is_what_the_code_prints(session, tmp_path):
    """Each session of real commands (against its own simulated account) on its own, so that
    xdist runs them side by side."""
    warm = functools.partial(ops_forkserver.start, text=True)  # each command forked warm, when it can be
    fresh = gen_docs.samples(gen_docs.run_session(session, tmp_path, start=warm))
    stale = []
    for page, name, text in committed_samples():
        if name not in fresh:  # another session's
            continue
        loose = gen_docs.SAMPLES[name].loose
        if gen_docs.canonical(text, loose) != gen_docs.canonical(fresh[name], loose):
            stale.append(
                f"{page.relative_to(ROOT)} (sample {name}):\n--- committed\n{text}\n--- the code prints\n{fresh[name]}"
            )
    assert not stale, f"sample outputs no longer match the code. {FIX}\n\n" + "\n\n".join(stale)


def test_the_readme_shows_a_real_dry_run():
    assert "dry-run" in [name for name, _ in gen_docs.sample_blocks(ROOT / "README.md")]


@pytest.mark.parametrize("page", sorted(gen_docs.REFERENCE_PAGES, key=str), ids=lambda p: p.name)
def test_reference_pages_match_the_code(page):
    assert page.exists(), f"{page.relative_to(ROOT)} is missing. {FIX}"
    assert page.read_text() == gen_docs.REFERENCE_PAGES[page](), (
        f"{page.relative_to(ROOT)} no longer matches the code. {FIX}"
    )


def test_the_step_types_page_lists_every_registered_type():
    from ops.steps import playbook_types  # not ops's own (the dead man's switch): no playbook names them

    text = gen_docs.STEP_TYPES_PAGE.read_text()
    for name, cls in playbook_types().items():
        assert f"\n## {name}\n" in text, f"step type {name} is not in the reference. {FIX}"
        for param in cls.params:
            assert f"| `{param.name}` |" in text


def test_every_readme_link_into_docs_leads_to_a_file():
    links = re.findall(r"\]\((docs/[^)#\s]*)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    assert links, "README.md links nowhere into docs/"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_every_docs_page_is_in_the_site_navigation():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    listed = {page for entry in nav for page in entry.values()}
    pages = {str(p.relative_to(gen_docs.DOCS)) for p in gen_docs.DOCS.rglob("*.md")}
    assert pages == listed, f"mkdocs.yml's nav and docs/ differ: {sorted(pages ^ listed)}"


def test_the_architecture_page_names_every_module_and_only_real_ones():
    text = (gen_docs.DOCS / "architecture.md").read_text()
    named = set(re.findall(r"\b((?:ops|bench|docs)/[\w/]+\.(?:py|yaml))\b", text))
    missing_files = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing_files, f"docs/architecture.md names files that do not exist: {missing_files}"
    modules = sorted(
        str(p.relative_to(ROOT))
        for folder in ("ops", "ops/commands", "ops/engine")
        for p in (ROOT / folder).glob("*.py")
        if p.name != "__init__.py"
    )
    steps = sorted(p.name for p in (ROOT / "ops" / "steps").glob("*.py") if p.name != "__init__.py")
    unnamed = [m for m in modules if m not in named] + [s for s in steps if f"`{s}`" not in text]
    assert not unnamed, f"docs/architecture.md does not describe: {unnamed}; add a line for each."


def test_the_cli_reference_does_not_depend_on_what_ran_before():
    """click caches a command's help option from the first context that asks: a command invoked
    on its own (--help only) must not change the page (it did, under xdist, depending on order)."""
    import click
    from click.testing import CliRunner

    from ops.cli import cli

    def commands(group):
        for name in group.list_commands(None):
            command = group.get_command(None, name)
            yield command
            if isinstance(command, click.Group):
                yield from commands(command)

    for command in commands(cli):
        CliRunner().invoke(command, ["--help"])
    page = next(p for p in gen_docs.REFERENCE_PAGES if p.name == "cli.md")
    assert page.read_text() == gen_docs.REFERENCE_PAGES[page]()
