"""Shared fixtures for the site generator's tests: the repository, and small sites built from text."""

from pathlib import Path
from typing import Dict

import pytest

REPO = Path(__file__).resolve().parents[2]
# Folders that hold no source of ours: environments, caches, build output.
SKIP_PARTS = {'.venv', '.git', 'html', '__pycache__', 'node_modules', 'build', 'logs', 'data'}


def repo_python_files():
    """Every .py file in the repository, found now rather than listed by hand."""
    return sorted(p.relative_to(REPO).as_posix() for p in REPO.rglob('*.py')
                  if not SKIP_PARTS & set(p.relative_to(REPO).parts)
                  and not any(part.startswith('.') for part in p.relative_to(REPO).parts))


def page_sources():
    """The sources of the default site: the labml_opt package and README.md."""
    return [p for p in repo_python_files() if p.startswith('labml_opt/')] + ['README.md']


def write_tree(root: Path, files: Dict[str, object]) -> Path:
    """Create `files` (path -> str or bytes) under `root`."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding='utf-8')
    return root


SMALL_SITE = {
    'README.md': '# Small site\n\nThe home page. See [the package](pkg/index.html).\n',
    'pkg/__init__.py': '"""\n---\ntitle: The package\nsummary: A package of two modules.\n---\n\n'
                       '# The package\n\n<a id="Base"></a>\nShared pieces. [Alpha](alpha.html).\n"""\n\nBASE = 1\n',
    'pkg/alpha.py': '"""\n---\ntitle: Alpha\nsummary: The first module, with math.\n---\n\n'
                    '# Alpha\n\nUses $\\alpha_t$ and [the base](index.html#Base).\n"""\n\n'
                    'import math\n\n\ndef alpha(x):\n    """\n    ## Alpha of $x$\n    """\n'
                    '    # $\\sqrt{x}$\n    return math.sqrt(x)\n',
    'pkg/beta.py': '"""\n---\ntitle: Beta\nsummary: The second module.\n---\n\n# Beta\n"""\n\n'
                   'def beta():\n    """Bias correction lives here."""\n    return 2\n',
    'pkg/sub/__init__.py': '"""\n---\ntitle: Sub\nsummary: A nested package.\n---\n\n# Sub\n"""\n',
    'pkg/sub/gamma.py': '"""\n---\ntitle: Gamma\nsummary: Nested module.\n---\n\n# Gamma\n\n'
                        '![plot](results/plot.svg)\n\n[[include: results/table.md]]\n"""\n\nG = 3\n',
    'pkg/sub/results/plot.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>\n',
    'pkg/sub/results/table.md': '| a | b |\n|---|---|\n| 1 | $\\beta_2$ |\n',
}


@pytest.fixture
def small_site(tmp_path):
    """A small source tree with a nested package, an image and an include."""
    return write_tree(tmp_path / 'src', SMALL_SITE)
