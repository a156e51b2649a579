"""
The experiments package imports in one direction: data, plots, the run store, tracking and
schedules at the bottom; the training loop on them; one tracked run on that; the experiments on
that; the commands on top. Late imports inside functions count: a late import that hides a
cycle is still a cycle.
"""
import ast
from pathlib import Path

import pytest

import labml_opt.experiments

PACKAGE = Path(labml_opt.experiments.__file__).parent

LAYERS = [
    {'data', 'plots', 'results', 'schedules', 'tracking'},
    {'learner'},
    {'runs'},
    {'compare', 'sweep', 'one_cycle', 'a3c', 'benchmark'},
    {'__main__'},
]
LAYER = {module: level for level, modules in enumerate(LAYERS) for module in modules}


def imported_modules(path: Path) -> set:
    """The modules of this package that `path` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == 'labml_opt.experiments':
                found |= {alias.name for alias in node.names}
            elif node.module.startswith('labml_opt.experiments.'):
                found.add(node.module.split('.')[2])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split('.')[2] for alias in node.names
                      if alias.name.startswith('labml_opt.experiments.')}
    return found


def test_every_module_of_the_package_has_a_layer():
    modules = {path.stem for path in PACKAGE.glob('*.py')} - {'__init__'}
    assert modules == set(LAYER)


@pytest.mark.parametrize('module', sorted(LAYER))
def test_a_module_imports_only_from_the_layers_below_it(module):
    upward = {name: LAYER[name] for name in imported_modules(PACKAGE / f'{module}.py') if LAYER[name] >= LAYER[module]}
    assert not upward, f'{module} (layer {LAYER[module]}) imports {upward}'


def test_the_package_index_imports_nothing():
    assert imported_modules(PACKAGE / '__init__.py') == set()


def test_the_checker_sees_late_imports(tmp_path):
    source = tmp_path / 'x.py'
    source.write_text('def f():\n    from labml_opt.experiments import compare\n    import labml_opt.experiments.sweep\n')
    assert imported_modules(source) == {'compare', 'sweep'}
