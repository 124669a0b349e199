"""The import rules of the house, read from the source with ast: what each layer may import.

- the pure badge layer (``pypipin.badges``) reaches nothing that does I/O, however indirectly;
- nothing below the HTTP face (``pypipin.web``) imports it: the face is handed to nobody;
- only the entry points import the wiring, the one place that builds every part.
"""

import ast
import pathlib

import pytest

import pypipin

PACKAGE = pathlib.Path(pypipin.__file__).parent
# what does I/O: the reactor's network and processes, HTTP clients and servers, Redis
IO = (
    "twisted.internet",
    "twisted.web",
    "twisted.application",
    "twisted.runner",
    "treq",
    "txredisapi",
    "klein",
    "socket",
    "ssl",
    "subprocess",
    "asyncio",
    "http.client",
    "urllib.request",
)
# the layers under the HTTP face (``pypipin.metrics`` serves /metrics, so it is the face's too)
BELOW_WEB = (
    "pypipin.answers",
    "pypipin.data",
    "pypipin.upstream",
    "pypipin.badges",
    "pypipin.store",
    "pypipin.limits",
    "pypipin.renderer",
    "pypipin.waiting",
)
ENTRY_POINTS = ("pypipin.plugin", "pypipin.command", "pypipin.worker")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str) -> set[str]:
    """Every module ``source`` imports, anywhere in it (functions and ``TYPE_CHECKING`` blocks too);
    ``from a import b`` counts as ``a`` and as ``a.b`` (``b`` may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package ``module`` is in
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    """Each module of the package, with the modules it imports."""
    return {
        module_name(path): imports(path.read_text(encoding="utf-8"), module_name(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


GRAPH = graph()


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``name`` is one of ``prefixes`` or inside one of them."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def reached(start: str) -> dict[str, str]:
    """Every module of the package ``start`` imports, however indirectly, each with one that imports it."""
    seen = {start: ""}
    todo = [start]
    while todo:
        current = todo.pop()
        for name in sorted(GRAPH.get(current, ())):
            if name in GRAPH and name not in seen:
                seen[name] = current
                todo.append(name)
    return seen


def test_the_walk_sees_the_imports() -> None:
    """A walk that found nothing would pass every rule below."""
    assert {"pypipin.badges", "pypipin.data", "pypipin.web", "pypipin.answers", "pypipin.wiring"} < set(GRAPH)
    assert "pypipin.data.packages" in GRAPH["pypipin.answers"]
    assert "twisted.internet.defer" in GRAPH["pypipin.data.packages"]
    assert "pypipin.badges.parsing" in reached("pypipin.web.routes")
    assert imports("from . import keys\nfrom .. import metrics", "pypipin.data.packages") == {
        "pypipin.data",
        "pypipin.data.keys",
        "pypipin",
        "pypipin.metrics",
    }


@pytest.mark.parametrize("module", sorted(name for name in GRAPH if within(name, ("pypipin.badges",))))
def test_badges_reach_nothing_that_does_io(module: str) -> None:
    """The badge layer is pure: neither it nor anything it imports, however indirectly, does I/O."""
    for each, importer in reached(module).items():
        bad = sorted(name for name in GRAPH[each] if within(name, IO))
        assert not bad, f"{module} reaches {each} (through {importer or 'itself'}), which imports {bad}"


@pytest.mark.parametrize("module", sorted(name for name in GRAPH if within(name, BELOW_WEB)))
def test_nothing_below_the_http_face_imports_it(module: str) -> None:
    """The layers below the HTTP face are handed what they need (a callback, an account), nothing of it."""
    assert not sorted(name for name in GRAPH[module] if within(name, ("pypipin.web",)))


def test_only_the_entry_points_import_the_wiring() -> None:
    """Every part is built in one place, the wiring, and only what starts pypipin asks it to."""
    importers = {module for module, names in GRAPH.items() if "pypipin.wiring" in names}
    assert importers and importers <= set(ENTRY_POINTS)
