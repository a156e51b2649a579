r"""
Math typeset at build time: each formula becomes MathJax's HTML with MathML and its TeX, an error
MathJax finds is reported at its file and line, macros that reach outside a formula stay
undefined even if the build's own check were bypassed, and the cache spares MathJax the
formulas it has seen.
"""

import html
import re
import subprocess

import pytest

from site_gen import BuildError, typeset
from site_gen.cache import Formulas
from site_gen.site import build
from tests.site_gen.conftest import write_tree


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A formula cache of the test's own, so that what it counts is not shared with other builds."""
    monkeypatch.setenv('SITE_GEN_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def test_a_formula_becomes_mathjax_html_with_mathml_and_its_tex_kept_as_written(tmp_path, cache):
    write_tree(tmp_path, {'m/__init__.py': '"""\n# Math\n\nThe rate $\\alpha_t < 1$ and\n\n'
                                           '$$\\frac{a}{b}$$\n"""\nx = 1\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    page = (tmp_path / 'out/m/index.html').read_text()
    inline, display = re.findall(r'<span class="math">(<mjx-container .*?</mjx-container>)'
                                 r'<span class="tex" aria-hidden="true">([^<]*)</span></span>', page, re.S)
    assert html.unescape(inline[1]) == '$\\alpha_t < 1$' and html.unescape(display[1]) == '$$\\frac{a}{b}$$'
    assert 'display="true"' in display[0] and 'display="true"' not in inline[0]
    # Screen readers get MathML, with the TeX as its annotation; the drawn formula is hidden from them.
    assert '<mjx-math class=" MJX-TEX" aria-hidden="true">' in inline[0]
    assert re.search(r'<mjx-assistive-mml[^>]*><math [^>]*><semantics><mrow><msub><mi>α</mi><mi>t</mi></msub>'
                     r'<mo>&lt;</mo><mn>1</mn></mrow><annotation encoding="application/x-tex">\\alpha_t &lt; 1'
                     r'</annotation></semantics></math></mjx-assistive-mml>', inline[0]), inline[0]
    assert '<script' not in page.split('</head>')[1] and 'mathjax' not in ''.join(re.findall(r'<script[^>]*>', page))


def test_a_formula_mathjax_cannot_typeset_is_an_error_at_its_file_and_line(tmp_path, cache):
    write_tree(tmp_path, {'m/a.py': '"""\n# A\n\nFine $x$.\n\nBroken $\\notamacro{x}$ and\n$a & b$ here.\n"""\n'
                                    'x = 1\n\n# One more $\\frac{1}{2}$, then $\\sqrt[3]{x}$\ny = 2\n'})
    with pytest.raises(BuildError) as error:
        build(tmp_path, ['m'], tmp_path / 'out')
    assert [(e.path, e.line) for e in error.value.errors] == [('m/a.py', 6), ('m/a.py', 7)]
    assert error.value.errors[0].message == ("MathJax cannot typeset '$\\\\notamacro{x}$': "
                                             "Undefined control sequence \\notamacro")
    assert 'Misplaced &' in error.value.errors[1].message
    assert not (tmp_path / 'out').exists(), 'nothing is written'
    report = build(tmp_path, ['m'], tmp_path / 'out', keep_going=True)
    assert [str(e) for e in report.errors][0].startswith('m/a.py:6: MathJax cannot typeset')
    assert not (tmp_path / 'out/m/a.html').exists()


@pytest.mark.parametrize('macro', [r'\href{javascript:window.pwned=1}{x}', r'\class{permalink}{x}',
                                   r'\cssId{search}{x}', r'\style{background:url(https://evil.example/a.png)}{x}',
                                   r'\data{pwned=1}{x}', r'\unicode[evil]{x41}', r'\require{html}',
                                   r'\setOptions[tex]{digits=x}x'])
def test_macros_that_reach_outside_a_formula_are_undefined_even_for_tex_the_build_did_not_check(macro, cache):
    with typeset.MathJax(Formulas(typeset.engine())) as mathjax:
        formula, = mathjax.typeset([f'${macro}$']).values()
    assert formula.error.startswith('Undefined control sequence \\')
    assert not re.search(r'\b(href|src|id)=|style="[^"]*url', formula.html)


def test_markup_that_mathjax_does_not_make_is_refused():
    assert typeset.unsafe('<mjx-container class="MathJax" jax="CHTML"><mjx-c class="mjx-c3C TEX-I"></mjx-c>'
                          '</mjx-container>') is None
    assert 'onclick' in typeset.unsafe('<mjx-c onclick="alert(1)"></mjx-c>')
    assert 'href' in typeset.unsafe('<mjx-c><a href="x">y</a></mjx-c>')
    assert 'style' in typeset.unsafe('<mjx-c style="background: url(//evil.example/a.png)"></mjx-c>')
    assert 'class' in typeset.unsafe('<mjx-c class="permalink"></mjx-c>')


def test_formulas_are_typeset_once_then_come_from_the_cache_without_starting_node(tmp_path, cache, monkeypatch):
    write_tree(tmp_path, {'m/__init__.py': '"""\n# Math\n\n$\\beta_1$ and $\\beta_2$.\n"""\nx = 1\n'})
    started = []
    popen = subprocess.Popen
    monkeypatch.setattr(subprocess, 'Popen', lambda *a, **k: started.append(a) or popen(*a, **k))
    build(tmp_path, ['m'], tmp_path / 'first')
    assert len(started) == 1, 'one Node process for the whole build'
    build(tmp_path, ['m'], tmp_path / 'second')
    assert len(started) == 1, 'an empty output folder, but every formula and the stylesheet came from the cache'
    assert (tmp_path / 'first/m/index.html').read_bytes() == (tmp_path / 'second/m/index.html').read_bytes()
    # A new formula is typeset, the known ones are not sent again.
    (tmp_path / 'm/__init__.py').write_text('"""\n# Math\n\n$\\beta_1$ and $\\beta_3$.\n"""\nx = 1\n')
    sent = []
    ask = typeset.MathJax.ask
    monkeypatch.setattr(typeset.MathJax, 'ask', lambda self, request: sent.append(request) or ask(self, request))
    build(tmp_path, ['m'], tmp_path / 'second')
    assert sent == [[['\\beta_3', False, {}]]] and len(started) == 2


def test_a_cache_folder_that_cannot_be_written_costs_time_not_the_build(tmp_path, monkeypatch):
    blocker = tmp_path / 'file'
    blocker.write_text('not a folder')
    monkeypatch.setenv('SITE_GEN_CACHE', str(blocker / 'cache'))
    write_tree(tmp_path, {'m/__init__.py': '"""\n# Math\n\n$x$\n"""\nx = 1\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    assert '<mjx-container' in (tmp_path / 'out/m/index.html').read_text()


@pytest.mark.parametrize('span, tex, display', [('$x$', 'x', False), ('$$x$$', 'x', True), ('\\(x\\)', 'x', False),
                                                ('\\[x\\]', 'x', True),
                                                ('\\begin{align}a&=b\\end{align}', '\\begin{align}a&=b\\end{align}', True)])
def test_delimiters_say_whether_math_is_displayed(span, tex, display):
    assert typeset.delimited(span) == (tex, display)


def test_each_page_carries_the_css_of_every_character_its_formulas_draw_and_no_other(tmp_path, cache):
    write_tree(tmp_path, {'m/a.py': '"""\n# A\n\n$\\alpha + \\mathbb{R}$ and $$\\left( \\frac{a}{b} \\right)$$\n"""\nx = 1\n',
                          'm/b.py': '"""\n# B\n\nNo math here.\n"""\ny = 2\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    page = (tmp_path / 'out/m/a.html').read_text()
    style = re.search(r'<style>\n(.*?)</style>', page, re.S).group(1)
    used = {tuple(sorted(classes.split())) for classes in typeset.USED_CLASSES_RE.findall(page)}
    drawn = {tuple(sorted(typeset.CHARACTER_CLASS_RE.findall(rule.split('{')[0]))) for rule in style.split('}') if '{' in rule}
    assert ('TEX-I', 'mjx-c1D6FC') in used and ('TEX-A', 'mjx-c211D') in used
    assert used <= drawn and all(any(name.startswith('mjx-c') for name in key) for key in drawn)
    assert '<style>' not in (tmp_path / 'out/m/b.html').read_text()
    shared = (tmp_path / 'out/assets/math.css').read_text()
    assert len(shared) < 30_000 and '@font-face' in shared and 'mjx-c1D6FC' not in shared


def test_the_zero_font_is_declared_with_exactly_the_characters_it_has(tmp_path, cache):
    """Browsers skip MJXZERO for every other character only if its @font-face says what it holds."""
    ttLib = pytest.importorskip('fontTools.ttLib')
    write_tree(tmp_path, {'m/a.py': '"""\n# A\n\n$x$\n"""\nx = 1\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    shared = (tmp_path / 'out/assets/math.css').read_text()
    rule = re.search(r'@font-face[^{]*\{[^}]*MJXZERO;[^}]*\}', shared).group(0)
    font = re.search(r'url\("([^"]+)"\)', rule).group(1)
    characters = set(ttLib.TTFont(tmp_path / 'out/assets' / font).getBestCmap())
    declared = {int(code, 16) for code in re.findall(r'unicode-range:\s*U\+([0-9A-F]+)', rule)}
    assert declared and declared == characters


def test_a_page_asks_at_once_for_the_math_fonts_its_formulas_draw_and_no_other(tmp_path, cache):
    """Italic letters and upright digits first; \\mathbb (AMS), \\mathcal and a stretched brace far below."""
    first = '"""\n# A\n\n' + ' '.join(f'$x_{{{k}}}$' for k in range(60)) + '\n"""\nx = 1\n\n'
    far = ''.join(f'# Then $\\mathbb{{R}}^{{{k}}}$ and $\\mathcal{{L}}$.\nz{k} = {k}\n\n' for k in range(30))
    brace = '# $$f = \\left\\{ \\begin{array}{l} a \\\\ b \\\\ c \\end{array} \\right.$$\nw = 1\n'
    write_tree(tmp_path, {'m/a.py': first + far + brace, 'm/b.py': '"""\n# B\n\nNo math here.\n"""\ny = 2\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    page = (tmp_path / 'out/m/a.html').read_text()
    fonts = set(re.search(r'<html [^>]*data-math-fonts="([^"]*)"', page).group(1).split())
    assert {'MJXTEX', 'MJXTEX-I', 'MJXTEX-A', 'MJXTEX-C'} <= fonts and fonts & set(typeset.STRETCHY_FONTS)
    assert not fonts & {'MJXTEX-B', 'MJXTEX-FR', 'MJXTEX-SS', 'MJXTEX-T'}, 'no bold, Fraktur, sans-serif or typewriter'
    assert 'data-math-fonts' not in (tmp_path / 'out/m/b.html').read_text()


def test_the_cache_keeps_formulas_of_one_engine_only(tmp_path):
    old = Formulas('mathjax 3.2.2 old', tmp_path)
    old.put({'$x$': ('<old>', None, {})})
    assert old.get(['$x$']) == {'$x$': ('<old>', None, {})}
    new = Formulas('mathjax 3.2.2 new', tmp_path)
    assert new.get(['$x$']) == {}, 'a formula typeset by another engine is not reused'
    new.put({'$y$': ('<new>', None, {'a': ['1', 'mjx-eqn:a']})})
    assert old.get(['$x$']) == {} and new.get(['$y$']) == {'$y$': ('<new>', None, {'a': ['1', 'mjx-eqn:a']})}


def test_a_store_of_an_older_generator_with_other_columns_is_replaced(tmp_path):
    import sqlite3
    db = sqlite3.connect(tmp_path / 'formulas.sqlite')
    db.execute('CREATE TABLE formula (engine TEXT, tex TEXT, html TEXT, error TEXT, PRIMARY KEY (engine, tex))')
    db.execute("INSERT INTO formula VALUES ('e', '$x$', '<old>', NULL)")
    db.commit()
    db.close()
    store = Formulas('e', tmp_path)
    assert store.get(['$x$']) == {}
    store.put({'$x$': ('<new>', None, {})})
    assert store.get(['$x$']) == {'$x$': ('<new>', None, {})}


def test_equation_numbers_and_references_within_a_formula_are_kept_and_pass_check(tmp_path, cache):
    from site_gen.check import check
    write_tree(tmp_path, {'m/__init__.py': '"""\n# Math\n\n$$x = 1 \\tag{1} \\label{one}$$\n\n'
                                           '$$\\begin{align} y &= 2 \\tag{2} \\label{two} \\\\ z &= \\eqref{two} '
                                           '\\end{align}$$\n"""\nx = 1\n'})
    build(tmp_path, ['m'], tmp_path / 'out')
    page = (tmp_path / 'out/m/index.html').read_text()
    assert 'id="mjx-eqn:one"' in page and 'href="#mjx-eqn%3Atwo"' in page
    assert check(tmp_path, ['m'], tmp_path / 'out') == []


# ## Equation numbers across formulas

LABELLED = ('"""\n# Energy\n\nThe energy is\n\n$$E = m c^2 \\tag{7} \\label{energy}$$\n\n'
            'and the momentum\n\n$$p = m v \\tag{8} \\label{momentum}$$\n\n'
            'By \\eqref{energy}, and as $\\eqref{momentum}$ says, \\ref{energy} holds.\n\n'
            '$$E^2 = (p c)^2 + (m c^2)^2 \\quad \\text{from } \\eqref{energy} \\text{ and } \\eqref{momentum}$$\n'
            '"""\nx = 1\n')


def references(page: str):
    """Each reference on a page: where its link points, and the text its MathML reads."""
    return re.findall(r'<mrow href="(#[^"]*)" class="MathJax_ref"><mtext>([^<]*)</mtext></mrow>', page)


def test_a_reference_in_prose_or_another_formula_shows_the_number_of_the_labelled_equation_and_links_to_it(tmp_path, cache):
    from site_gen.check import check
    write_tree(tmp_path, {'m/__init__.py': LABELLED})
    build(tmp_path, ['m'], tmp_path / 'out')
    page = (tmp_path / 'out/m/index.html').read_text()
    assert references(page) == [('#mjx-eqn%3Aenergy', '(7)'), ('#mjx-eqn%3Amomentum', '(8)'),
                                ('#mjx-eqn%3Aenergy', '7'), ('#mjx-eqn%3Aenergy', '(7)'),
                                ('#mjx-eqn%3Amomentum', '(8)')]
    assert page.count('id="mjx-eqn:energy"') == 1 and page.count('id="mjx-eqn:momentum"') == 1
    assert '???' not in page
    # The prose reference is inline math, copied as written.
    assert '<span class="tex" aria-hidden="true">\\eqref{energy}</span>' in page
    assert check(tmp_path, ['m'], tmp_path / 'out') == []


def test_a_renumbered_equation_changes_the_number_its_references_show(tmp_path, cache):
    write_tree(tmp_path, {'m/__init__.py': LABELLED})
    build(tmp_path, ['m'], tmp_path / 'out')
    write_tree(tmp_path, {'m/__init__.py': LABELLED.replace('\\tag{7}', '\\tag{9}')})
    build(tmp_path, ['m'], tmp_path / 'out')
    page = (tmp_path / 'out/m/index.html').read_text()
    assert [text for _, text in references(page)] == ['(9)', '(8)', '9', '(9)', '(8)']


def test_a_reference_to_an_unknown_label_or_a_label_numbered_twice_is_an_error_at_its_line(tmp_path, cache):
    write_tree(tmp_path, {'m/a.py': '"""\n# A\n\n$$a = 1 \\tag{1} \\label{a}$$\n\nSee \\eqref{b}.\n\n'
                                    '$$x = \\ref{c}$$\n\n$$a = 2 \\tag{2} \\label{a}$$\n\n'
                                    '$$u = 1 \\label{untagged}$$ and \\eqref{untagged}\n"""\nx = 1\n'})
    with pytest.raises(BuildError) as error:
        build(tmp_path, ['m'], tmp_path / 'out')
    found = [(e.path, e.line, e.message) for e in error.value.errors]
    assert [(path, line) for path, line, _ in found] == [('m/a.py', 6), ('m/a.py', 8), ('m/a.py', 10), ('m/a.py', 12)]
    assert '\\label{b}' in found[0][2] and '\\label{c}' in found[1][2] and '\\label{untagged}' in found[3][2]
    assert found[2][2] == '\\label{a} numbers a second equation on this page (the first is at m/a.py:4)'
