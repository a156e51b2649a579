"""
Every Python file of the project compiles without a warning. A backslash in a docstring that is not
raw, as in `"$\\sigma$"`, is an invalid escape sequence: a warning in this Python, only seen when the
file is first compiled, and an error in a later one.
"""

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(path for folder in ('labml_opt', 'site_gen', 'benchmarks', 'tests')
                 for path in (ROOT / folder).rglob('*.py'))


@pytest.mark.parametrize('path', SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_source_compiles_without_a_warning(path):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        compile(path.read_text(), str(path), 'exec')
