"""
Docstrings written for Sphinx read well: Google and NumPy sections become lists, doctests become
highlighted code, reST math is typeset; line numbers survive; Markdown prose is left alone.
"""

import re
from pathlib import Path

import pytest

from site_gen.docstrings import readable
from site_gen.parse import parse
from site_gen.render import Renderer
from tests.site_gen.conftest import REPO, page_sources

TORCH_OPTIM = Path(pytest.importorskip('torch').__file__).parent / 'optim'


def render(text: str):
    source = parse('pkg/m.py', text.encode())
    page = Renderer(REPO, lambda p: None).render(source)
    return source, page, '\n'.join(s.prose for s in page.sections)


GOOGLE = '''\
class StepLR:
    r"""Decays the learning rate.

    Args:
        optimizer (Optimizer): Wrapped optimizer.
        gamma (float): Multiplicative factor :math:`\\gamma` of
            learning rate decay. Default: 0.1.
        *args: passed on.

    Returns:
        float: the new learning rate.

    Raises:
        ValueError: if `gamma` is negative.

    Example:
        >>> scheduler = StepLR(optimizer, gamma=0.1)
        >>> for epoch in range(100):
        ...     scheduler.step()
        0.1

    .. math::
        \\eta_t = \\eta_0 \\gamma^{\\lfloor t / s \\rfloor}

    .. note::
        See :class:`~torch.optim.Optimizer` and :func:`torch.optim.lr_scheduler.LRScheduler.step`.
    """
'''


def test_google_sections_become_lists_with_names_types_and_continued_text():
    _, page, out = render(GOOGLE)
    assert page.errors == [] and page.warnings == []
    args = re.search(r'<p><strong>Args</strong></p>\s*<ul>(.*?)</ul>', out, re.S).group(1)
    items = [re.sub(r'<[^>]+>', '', item).split() for item in re.findall(r'<li>(.*?)</li>', args, re.S)]
    assert items == [['optimizer', '(Optimizer):', 'Wrapped', 'optimizer.'],
                     ['gamma', '(float):', 'Multiplicative', 'factor', '$\\gamma$', 'of', 'learning', 'rate',
                      'decay.', 'Default:', '0.1.'],
                     ['*args:', 'passed', 'on.']]
    assert re.search(r'<strong>Raises</strong></p>\s*<ul>\s*<li><code class="hl">.*ValueError.*</code>: if', out, re.S)
    assert re.search(r'<strong>Returns</strong></p>\s*<p>float: the new learning rate.</p>', out)


def test_doctest_examples_become_highlighted_python_console_code():
    _, _, out = render(GOOGLE)
    block = re.search(r'<strong>Example</strong></p>\s*<div class="hl"><pre><code>(.*?)</code></pre></div>', out, re.S).group(1)
    assert block.count('<span class="gp">&gt;&gt;&gt; </span>') == 2 and '<span class="gp">... </span>' in block
    assert '<span class="n">StepLR</span>' in block and '0.1' in block


def test_rest_math_is_typeset_and_roles_become_code():
    _, _, out = render(GOOGLE)
    assert '<span class="math">$$\n\\eta_t = \\eta_0 \\gamma^{\\lfloor t / s \\rfloor}\n$$</span>' in out
    assert '<span class="math">$\\gamma$</span>' in out and ':math:' not in out
    assert re.search(r'<strong>Note</strong>\s*See <code class="hl"><span class="n">Optimizer</span></code> and '
                     r'<code class="hl">.*LRScheduler.*step.*</code>', out)


def test_numpy_sections_become_lists():
    text = ('def f(lr, betas):\n    """\n    Parameters\n    ----------\n    lr : float\n        The learning rate.\n'
            '    betas : tuple of float, optional\n        Decay rates.\n\n    Returns\n    -------\n    Tensor\n'
            '        The update.\n    """\n')
    _, _, out = render(text)
    assert '----' not in out
    items = [re.sub(r'<[^>]+>', '', item).split() for item in re.findall(r'<li>(.*?)</li>', out, re.S)]
    assert items == [['lr', '(float):', 'The', 'learning', 'rate.'],
                     ['betas', '(tuple', 'of', 'float,', 'optional):', 'Decay', 'rates.'],
                     ['Tensor:', 'The', 'update.']]


def test_every_rewritten_line_keeps_a_source_line_number_near_its_text():
    source = parse('pkg/m.py', GOOGLE.encode())
    block = source.sections[0].prose[0]
    lines = GOOGLE.split('\n')
    for number, text in readable(block):
        words = re.findall(r'[A-Za-z_]{3,}', text.replace('pycon', ''))
        if words:
            assert words[0].lower() in lines[number - 1].lower(), (number, text)


def test_an_error_in_rest_math_names_the_line_where_the_math_starts():
    _, page, _ = render('def f():\n    """\n    Text.\n\n    .. math::\n        a = \\frac{1}{2\n    """\n')
    assert [str(e)[:22] for e in page.errors] == ['pkg/m.py:5: unclosed {']


@pytest.mark.parametrize('path', [p for p in page_sources() if p.endswith('.py')])
def test_prose_already_in_markdown_is_left_exactly_as_it_was(path):
    source = parse(path, (REPO / path).read_bytes())
    for section in source.sections:
        for block in section.prose:
            assert readable(block) == block


@pytest.mark.parametrize('name', ['lr_scheduler.py', 'swa_utils.py', 'optimizer.py'])
def test_torch_optim_docstrings_render_without_errors_or_raw_sphinx(name):
    source = parse(f'torch/optim/{name}', (TORCH_OPTIM / name).read_bytes())
    page = Renderer(TORCH_OPTIM.parent.parent, lambda p: None).render(source)
    assert page.errors == []
    out = re.sub(r'<div class="hl">.*?</div>', '', '\n'.join(s.prose for s in page.sections), flags=re.S)
    assert ':math:' not in out and '.. math::' not in out and '&gt;&gt;&gt;' not in out
    assert not re.search(r'<p>Args:', out) and not re.search(r'\n\s*Args:\s*\n', out)
