"""The layering of ops: the import contracts in pyproject.toml hold, and no modules import each other in a circle.

Both look at every import, those inside functions and under TYPE_CHECKING too: an import a
function makes late is still a dependency, and a circle through one is still a circle.
"""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent

# The import cycles ops has today, each the set of modules that import one another round
# (a strongly connected component of the import graph). The test fails when one of these is
# gone or has changed, as well as on a new one: remove or update the entry, so the list
# only shrinks.
KNOWN_CYCLES: list = []  # none left (issue 14); a new cycle fails the test below


def test_the_import_contracts_hold():
    """`lint-imports` (import-linter) checks the [tool.importlinter] contracts of pyproject.toml."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"an import contract is broken (pyproject.toml, [tool.importlinter]):\n{output}"
    assert " 0 broken." in output, output


def strongly_connected(imports):
    """The strongly connected components of a graph {node: nodes it points to} with more than
    one node, or with one that points to itself (Tarjan's algorithm), each as a set."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in imports.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in imports.get(node, ()):
                found.append(component)

    for node in sorted(imports):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles():
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"a"}}
    assert sorted(map(sorted, strongly_connected(imports))) == [["a", "b", "c"], ["e"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles_but_the_known_ones():
    graph = grimp.build_graph("ops", cache_dir=None)  # every import, inside functions too
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    cycles = strongly_connected(imports)

    def described(cycle):
        lines = [
            f"  {importer} -> {imported}: line {detail['line_number']}: {detail['line_contents']}"
            for importer in sorted(cycle)
            for imported in sorted(imports[importer] & cycle)
            for detail in graph.get_import_details(importer=importer, imported=imported)
        ]
        return "\n".join([str(sorted(cycle))] + lines)

    new = [cycle for cycle in cycles if cycle not in KNOWN_CYCLES]
    assert not new, "modules that import each other in a circle:\n" + "\n".join(map(described, new))
    gone = [cycle for cycle in KNOWN_CYCLES if cycle not in cycles]
    assert not gone, (
        f"these import cycles are gone: remove them from KNOWN_CYCLES in {__file__}: {[sorted(c) for c in gone]}"
    )
