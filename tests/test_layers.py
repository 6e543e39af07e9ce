"""Issue 18: the house rules of the code, checked on every run. The layers are import-linter's contract
in pyproject.toml; the cycle check walks the same import graph (grimp's, which counts imports inside
functions too) and fails on any cycle anywhere in webapp/."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_linter_contract_holds():
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_no_import_cycle_anywhere_in_the_app():
    import grimp
    graph = grimp.build_graph("webapp", cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d in graph.modules and d != m}
             for m in modules}
    cycles = _strongly_connected(edges)
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of two or more modules that import each other."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_cycle_check_finds_a_cycle():
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_registry_wires_every_app_alike_and_nothing_twice(app, monkeypatch):
    """Issue 18: handlers, periodic tasks and billing hooks come from webapp/jobs/registry.py, once per app;
    importing modules registers nothing, and a second app in the process doubles nothing."""
    from webapp import create_app
    from webapp.config import TestConfig
    from webapp.jobs import registry
    monkeypatch.setenv("SUPPORT_EMAIL", "desk@agency.test")  # the environment is read when an app is made
    other = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    for each in (app, other):
        assert dict(each.extensions["operation_handlers"]) == dict(registry.OPERATIONS)
        assert tuple(each.extensions["periodic_tasks"]) == registry.PERIODIC
        hooks = each.extensions["billing_hooks"]
        assert hooks.after_paid == registry.BILLING_HOOKS.after_paid and len(hooks.after_paid) == 2
        assert dict(each.extensions["event_tellers"]) == dict(registry.EVENT_TELLERS)
        assert dict(each.extensions["operation_failure_hooks"]) == dict(registry.ON_FAILED)
        assert set(each.extensions["job_queue"].jobs) == set(registry.JOBS)
    assert other.config["SUPPORT_EMAIL"] == "desk@agency.test"
    assert len(set(registry.PERIODIC)) == len(registry.PERIODIC)
    # Every operation kind the code submits has a handler listed.
    import re
    submitted = set()
    for path in (ROOT / "webapp").rglob("*.py"):
        submitted |= set(re.findall(r'(?:operations\.submit|submit_many)\(\s*"([a-z_]+)"', path.read_text()))
    assert submitted and submitted <= set(registry.OPERATIONS), submitted - set(registry.OPERATIONS)
