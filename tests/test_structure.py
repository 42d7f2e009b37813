"""The package's structure: no import cycle (module-level or inside functions), and every
--format choice of every command comes from the one registry, report.FORMATS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import typer.main

from postfix_diag.cli import app
from postfix_diag.report import FORMATS, writer

PACKAGE = Path(__file__).resolve().parents[1] / "postfix_diag"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in its body (functions included).

    ``from X import name`` is an edge to the module X.name when that is a module of the package,
    else to X itself; importing a submodule is not counted as importing its parent package
    (Python initializes the parent first, but that is not a dependency of the code)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if _is_package(name, modules) else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                for alias in node.names:
                    sub = f"{mod}.{alias.name}"
                    targets.append(sub if sub in modules else mod)
            for t in targets:
                while t and t not in modules and "." in t:  # `import postfix_diag.x.y` style
                    t = t.rpartition(".")[0]
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # cli/analyze.py imports postfix_diag.analyze inside the command function
    assert "postfix_diag.analyze" in graph["postfix_diag.cli.analyze"]
    assert "postfix_diag.model" in graph["postfix_diag.report.check_text"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_writers_import_no_command_module():
    graph = import_graph()
    commands = {"postfix_diag.check", "postfix_diag.analyze", "postfix_diag.summary", "postfix_diag.qshape",
                "postfix_diag.export", "postfix_diag.parse", "postfix_diag.track"}
    for name, deps in graph.items():
        if name.startswith("postfix_diag.report"):
            assert not deps & commands, f"{name} imports {deps & commands}"
            assert not any(d.startswith("postfix_diag.cli") for d in deps), name


def _format_choices() -> dict[str, tuple[str, ...]]:
    group = typer.main.get_command(app)
    out = {}
    for name, cmd in group.commands.items():
        for p in cmd.params:
            if "--format" in getattr(p, "opts", ()):
                choices = getattr(p.type, "choices", None)  # click.Choice of the enum's values
                if choices is None:  # typer >= 0.29 keeps the enum itself
                    choices = [e.value for e in p.type_descriptor.annotation]
                out[name] = tuple(getattr(c, "value", c) for c in choices)
    return out


def test_every_format_choice_comes_from_the_registry():
    choices = _format_choices()
    kinds = {"analyze": "analysis", "check": "check", "summary": "summary", "qshape": "qshape",
             "parse": "events", "rules": "catalog", "explain-line": "explain-line"}
    assert set(choices) == set(kinds), "a command with --format is missing here"
    for command, kind in kinds.items():
        assert choices[command] == tuple(FORMATS[kind]), command


@pytest.mark.parametrize("kind,fmt", [(k, f) for k, fs in FORMATS.items() for f in fs])
def test_every_registered_writer_exists(kind, fmt):
    assert callable(writer(kind, fmt))


def test_unknown_format_is_a_value_error():
    with pytest.raises(ValueError, match="one of text, json"):
        writer("qshape", "html")
