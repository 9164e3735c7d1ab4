"""The packaging files agree with each other: pyproject.toml, environment.yml, the CI script."""

import ast
import importlib
import re
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names for the PyPI packages whose names differ.
CONDA_NAMES = {"torch": "pytorch", "opencv-python-headless": "py-opencv", "matplotlib": "matplotlib-base"}


def requirement_name(spec):
    return re.split(r"[<>=!\[ ]", spec, maxsplit=1)[0].lower()


def test_environment_yml_has_every_runtime_and_notebook_dependency():
    rattler = pytest.importorskip("rattler")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_specs = [spec for spec in environment["dependencies"] if isinstance(spec, str)]
    conda_names = {rattler.MatchSpec(spec).name.normalized for spec in conda_specs}  # each spec parses
    wanted = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    for spec in wanted:
        name = requirement_name(spec)
        assert CONDA_NAMES.get(name, name) in conda_names, f"{name} is missing from environment.yml"
    pip_section = next(item for item in environment["dependencies"] if isinstance(item, dict))["pip"]
    assert "-e ." in pip_section


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in ci and "set -euo pipefail" in ci


# --- The package's shape, read from its source with ``ast`` (nothing is imported) ---------------------------

PACKAGE = ROOT / "fomm_nb"
MAX_MODULE_LINES = 450
MIN_ANNOTATED = 0.80
# The front door: what a newcomer calls first. Every exported name of ``fomm_nb`` is added to these.
FRONT_DOOR_FUNCTIONS = [
    ("fomm_nb.hub", "get_model"),
    ("fomm_nb.pipeline", "animate_files"),
    ("fomm_nb.motion", "transfer_motion"),
    ("fomm_nb.motion", "normalize_kp"),
    ("fomm_nb.config", "load_config"),
    ("fomm_nb.checkpoints", "load_model"),
]
FRONT_DOOR_CLASSES = [("fomm_nb.animate", "AnimationEngine")]


def module_name(path):
    """``fomm_nb/media/__init__.py`` -> ``fomm_nb.media``; ``fomm_nb/hub.py`` -> ``fomm_nb.hub``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parse_package(root=PACKAGE):
    """``{module name: (path, ast.Module)}`` for every ``.py`` file under ``root``."""
    return {module_name(path): (path, ast.parse(path.read_text(), str(path))) for path in sorted(root.rglob("*.py"))}


def is_public(module):
    return not any(part.startswith("_") for part in module.split("."))


def is_package(modules, module):
    return modules[module][0].name == "__init__.py"


def public_functions(tree):
    """``(qualified name, function node, is_method)`` for the public functions and methods at a module's top level."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item, True


def unannotated(function, is_method):
    """What a function lacks: ``["return", "parameter x", ...]``; empty when fully annotated."""
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)
    args = function.args
    positional = args.posonlyargs + args.args
    if is_method and not static:
        positional = positional[1:]  # self or cls
    parameters = positional + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a is not None]
    missing = [f"parameter {a.arg}" for a in parameters if a.annotation is None]
    if function.returns is None and function.name != "__init__":
        missing.insert(0, "return")
    return missing


def resolve(modules, module, name, seen=()):
    """The module that defines ``name`` as seen from ``module``, following ``from .x import name`` chains."""
    path, tree = modules[module]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return module, node
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    target = import_target(modules, module, node)
                    if target in modules and (target, alias.name) not in seen:
                        return resolve(modules, target, alias.name, (*seen, (target, alias.name)))
    return module, None


def import_target(modules, module, node):
    """The module named by an ``ImportFrom`` node inside ``module`` (relative imports resolved)."""
    if node.level == 0:
        return node.module
    package = module.split(".") if is_package(modules, module) else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def dunder_all(modules, module):
    """The names in ``module``'s ``__all__`` (None without one); ``[*part.__all__, ...]`` is followed into ``part``."""
    node = next((n for n in modules[module][1].body if isinstance(n, (ast.Assign, ast.AnnAssign))
                 and "__all__" in {getattr(t, "id", "") for t in getattr(n, "targets", [getattr(n, "target", None)])}),
                None)
    if node is None:
        return None
    names = []
    for item in node.value.elts:
        if isinstance(item, ast.Starred):  # *part.__all__, part a module of this package
            names += dunder_all(modules, f"{module}.{item.value.value.id}") or []
        else:
            names.append(ast.literal_eval(item))
    return names


def missing_annotations(modules):
    """``(all public functions, [(name, what is missing)], front-door names)`` over the public modules."""
    functions, missing = [], []
    for module, (_, tree) in modules.items():
        if not is_public(module):
            continue
        for qualname, node, is_method in public_functions(tree):
            name = f"{module}.{qualname}"
            functions.append(name)
            if lacks := unannotated(node, is_method):
                missing.append((name, lacks))
    return functions, missing


def front_door(modules):
    """``[(name, what is missing)]`` for the front door: fomm_nb's exports and the functions listed above.

    For a class: its public methods and its ``__init__``'s parameters.
    """
    wanted = [("fomm_nb", name) for name in dunder_all(modules, "fomm_nb")] + FRONT_DOOR_FUNCTIONS + FRONT_DOOR_CLASSES
    report = []
    for module, name in dict.fromkeys(wanted):
        if module not in modules:
            report.append((f"{module}.{name}", ["the module does not exist"]))
            continue
        where, node = resolve(modules, module, name)
        if node is None:
            if module != "fomm_nb":  # constants such as __version__ are exported too
                report.append((f"{module}.{name}", ["not defined"]))
            continue
        if isinstance(node, ast.ClassDef):
            methods = [(f"{node.name}.{item.name}", item) for item in node.body
                       if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                       and (not item.name.startswith("_") or item.name == "__init__")]
            report += [(f"{where}.{n}", lacks) for n, item in methods if (lacks := unannotated(item, True))]
        elif lacks := unannotated(node, False):
            report.append((f"{where}.{node.name}", lacks))
    return list(dict.fromkeys((name, tuple(lacks)) for name, lacks in report))


def test_public_functions_are_annotated():
    modules = parse_package()
    functions, missing = missing_annotations(modules)
    door = front_door(modules)
    coverage = 1 - len(missing) / len(functions)
    print(f"annotated: {len(functions) - len(missing)} of {len(functions)} public functions ({coverage:.1%})")
    print("\n".join(f"  missing in {name}: {', '.join(lacks)}" for name, lacks in missing))
    problems = [f"front door: {name}: {', '.join(lacks)}" for name, lacks in door]
    if coverage < MIN_ANNOTATED:
        problems.append(f"{coverage:.1%} of public functions annotated, below {MIN_ANNOTATED:.0%} (the list is printed above)")
    assert not problems, "\n".join(problems)


def module_imports(modules, module, tree):
    """The fomm_nb modules that ``module`` imports when it is imported (imports inside functions do not count)."""
    targets = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = import_target(modules, module, node)
                for alias in node.names:
                    # ``from package import submodule`` imports the submodule; otherwise the named module.
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
            visit(ast.iter_child_nodes(node))

    visit(tree.body)
    return {target for target in targets if target in modules and target != module}


def import_cycles(modules):
    """The import circles among ``modules``: strongly connected groups of more than one module (Tarjan)."""
    graph = {module: module_imports(modules, module, tree) for module, (_, tree) in modules.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_no_import_circle():
    cycles = import_cycles(parse_package())
    assert not cycles, "modules that import each other (module level): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_module_over_450_lines():
    lengths = {path.relative_to(ROOT): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    long = {str(path): count for path, count in lengths.items() if count > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def bound_names(modules, module):
    """The names ``module`` binds (definitions, assignments, imports; ``from .part import *`` binds part's ``__all__``)."""
    names = set()
    for node in ast.walk(modules[module][1]):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.names[0].name == "*":
            names.update(dunder_all(modules, import_target(modules, module, node)) or [])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def test_every_public_module_lists_its_names_in_dunder_all():
    modules = parse_package()
    problems = []
    for module, (path, tree) in modules.items():
        statements = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        if not is_public(module) or not statements:  # a docstring-only __init__ exports nothing
            continue
        names = dunder_all(modules, module)
        if names is None:
            problems.append(f"{path.relative_to(ROOT)}: no __all__")
            continue
        submodules = {name.rsplit(".", 1)[1] for name in modules if name.startswith(module + ".")}
        unknown = set(names) - bound_names(modules, module) - submodules
        if unknown:
            problems.append(f"{path.relative_to(ROOT)}: __all__ names what the module does not define: {sorted(unknown)}")
    assert not problems, "\n".join(problems)


def test_pyproject_declares_an_spdx_license_and_setuptools_reads_it_without_a_warning():
    pytest.importorskip("setuptools", minversion="77")  # the first to read SPDX strings (PEP 639)
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metadata = apply_configuration(Distribution(), ROOT / "pyproject.toml").metadata
    assert not caught, [str(warning.message) for warning in caught]
    assert metadata.license_expression == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert set(metadata.project_urls) >= {"Homepage", "Repository"}


def readme_layers():
    """``{module: layer index}`` from the README's "How the code is laid out" table, top row first (index 0)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    table = section.split("| --- |", 1)[1].splitlines()[1:]  # the rows below the header
    rows = [line.split("|")[2] for line in table if line.startswith("| ")]
    layers = {}
    for index, cell in enumerate(rows):
        for path in re.findall(r"`([\w/]+(?:\.py|/))`", cell):
            layers["fomm_nb." + path.removesuffix(".py").strip("/").replace("/", ".")] = index
    return layers


def test_imports_go_one_way_through_the_layers_the_readme_lists():
    modules, layers = parse_package(), readme_layers()
    assert len(set(layers.values())) >= 8, f"the README's layout table was not found or lost rows: {layers}"

    def layer(module):  # the longest listed prefix: modules/blocks.py before a listed modules/
        owners = [name for name in layers if module == name or module.startswith(name + ".")]
        return layers[max(owners, key=len)] if owners else None

    problems = []
    for module, (path, tree) in modules.items():
        binds_nothing = all(isinstance(n, ast.Expr) for n in tree.body)  # an empty package __init__
        if module == "fomm_nb" or binds_nothing:
            continue
        if layer(module) is None:
            problems.append(f"{module} is in no layer of the README's table: add it to the layer it belongs to")
            continue
        for target in sorted(module_imports(modules, module, tree)):
            if target != "fomm_nb" and layer(target) is not None and layer(target) > layer(module):
                problems.append(f"{module} (layer {layer(module)}) imports {target} from a layer below (layer {layer(target)})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "name, new_home, old_home",
    [
        ("SAMPLES", "fomm_nb.registry", "fomm_nb.demo"),
        ("SAMPLE_SOURCE", "fomm_nb.registry", "fomm_nb.demo"),
        ("SAMPLE_DRIVING", "fomm_nb.registry", "fomm_nb.demo"),
        ("ImagePyramid", "fomm_nb.modules.blocks", "fomm_nb.train.losses"),
        ("FaceNotFoundError", "fomm_nb.errors", "fomm_nb.face"),
    ],
)
def test_a_moved_name_is_still_found_where_it_was(name, new_home, old_home):
    assert getattr(importlib.import_module(old_home), name) is getattr(importlib.import_module(new_home), name)
    assert name in dunder_all(parse_package(), new_home)
