"""
Rendering: math reaches MathJax byte for byte, TeX that links or styles is refused, HTML in prose
is allow-listed after Markdown (every payload of `payloads.py`),
code is highlighted as a whole file with its line numbers, ids are stable.
"""

import html
import re
from pathlib import Path

import markdown
import pytest
from markdown.extensions.fenced_code import FencedCodeExtension
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension

from site_gen.parse import parse
from site_gen.render import Renderer, SkipPlainText
from site_gen.sanitise import url_problem
from tests.site_gen.conftest import REPO, page_sources, write_tree
from tests.site_gen.math_spans import math_spans
from tests.site_gen.payloads import PAYLOADS, dangers


def render(text: str, path: str = 'pkg/m.py', root: Path = REPO):
    source = parse(path, text.encode())
    return source, Renderer(root, lambda p: None).render(source)


def page_html(page) -> str:
    return '\n'.join(s.prose + s.code for s in page.sections)


# ## Math is protected
#
# The spans come from `math_spans.py`, an extraction independent of the generator's.


@pytest.mark.parametrize('path', page_sources())
def test_every_math_span_in_every_source_reaches_the_html_verbatim(path):
    source, page = render((REPO / path).read_text(encoding='utf-8'), path)
    out = page_html(page)
    for span in math_spans(source):
        assert f'<span class="math">{html.escape(span, quote=False)}</span>' in out, span


@pytest.mark.parametrize('math', [
    '$$\\begin{aligned} a &= b \\\\ c_1 &= d_2 \\end{aligned}$$',
    '$\\{x_i\\}_{i=1}^n$',
    '$a_1 * b_2 * c_3$',
    '$x < y$',
    '\\begin{align}\nm_t &\\leftarrow \\beta_1 m_{t-1} \\\\\nv_t &= 0\n\\end{align}',
    '\\(\\hat{m}_t\\)',
    '\\[\\sqrt{v_t}\\]',
])
def test_math_that_markdown_would_mangle_is_kept_byte_for_byte(math):
    _, page = render(f'"""\nBefore {math} after.\n"""\nx = 1\n')
    assert f'<span class="math">{html.escape(math, quote=False)}</span>' in page_html(page)


def test_dollar_in_code_span_and_escaped_dollar_are_not_math():
    _, page = render('"""\nCosts \\$5, see `a = "$"` here.\n"""\nx = 1\n')
    out = page_html(page)
    assert 'class="math"' not in out
    assert 'Costs $5, see' in out


def test_math_in_comments_may_span_lines():
    _, page = render('x = 0\n# $a +\n#   b$\ny = 1\n')
    assert '<span class="math">$a +\n  b$</span>' in page_html(page)


@pytest.mark.parametrize('text, line, message', [
    ('"""\nGood $x$.\n\nBad $y here.\n"""\nx = 1\n', 4, 'unclosed $'),
    ('x = 0\n# fine\n# $$ never closed\ny = 1\n', 3, 'unclosed $$'),
    ('"""\nText\n\\begin{align}\na &= b\n"""\nx = 1\n', 3, 'unclosed \\begin{align}'),
    ('"""\n$\\frac{a}{b$\n"""\nx = 1\n', 2, 'unclosed { in math'),
    ('"""\nstray \\end{align}\n"""\nx = 1\n', 2, 'without a matching \\begin'),
    ('"""\nFine.\n\n$$a = \x08eta + \x0crac{1}{2}$$\n"""\nx = 1\n', 4, 'character U+0008 is not allowed'),
])
def test_bad_math_is_an_error_naming_file_and_line(text, line, message):
    _, page = render(text)
    assert len(page.errors) == 1
    assert str(page.errors[0]).startswith(f'pkg/m.py:{line}: ')
    assert message in str(page.errors[0])


def test_every_error_of_a_file_is_reported_at_its_own_line(tmp_path):
    text = ('"""\n# Title\n\nGood $x$, bad $\\frac{a}{b$.\n\nStray \\end{align}.\n\n![p](none.svg)\n"""\n\n'
            'x = 1\n# Unclosed $y\n#\n# and $\\href{https://a.example}{z}$\ny = 2\n')
    _, page = render(text, root=tmp_path)
    assert sorted((e.line, e.message.split(':')[0]) for e in page.errors) == [
        (4, 'unclosed { in math \'$\\\\frac{a}{b$\''), (6, '\\end{align} without a matching \\begin'),
        (8, 'image not found'), (12, 'unclosed $ in prose'), (14, '\\href is not allowed in math')]


# ## TeX that reaches outside the formula is refused
#
# MathJax's `html` extension turns `\href{javascript:…}` into a live link and `\style` into CSS
# that can load from another host; `\mmlToken` and `\bbox` can set the same attributes.

@pytest.mark.parametrize('math, macro', [
    ('$\\href{javascript:alert(1)}{x}$', '\\href'),
    ('$$\\class{x}{y}$$', '\\class'),
    ('$\\style{background:url(https://evil.example/a.png)}{x}$', '\\style'),
    ('$\\cssId{search}{x}$', '\\cssId'),
    ('$\\data{foo=bar}{x}$', '\\data'),
    ('$\\unicode[some-font]{x41}$', '\\unicode'),
    ('\\(\\require{html}\\)', '\\require'),
    ('$\\setOptions[tex]{digits=x}$', '\\setOptions'),
    ('$\\mmlToken{mi}[href="javascript:alert(1)"]{x}$', '\\mmlToken'),
    ('\\begin{align}a &= \\href{javascript:x}{b}\\end{align}', '\\href'),
    ('$\\bbox[5px,background-image:url(https://evil.example/a.png)]{x}$', '\\bbox'),
    ('$\\bbox[5px,{]},border:1px solid]{x}$', '\\bbox'),
    ('$\\fcolorbox{red;background:url(https://evil.example/a.png)}{white}{x}$', '\\fcolorbox'),
    ('$\\fcolorbox{red}{white;background:url(https://evil.example/a.png)}{x}$', '\\fcolorbox'),
    ('$\\colorbox{red:x}{y}$', '\\colorbox'),
    ('$\\definecolor{e}{named}{red;background:image-set("https://evil.example/a.png" 1x)}$', '\\definecolor'),
    ('$\\color[named]{red;x}{y}$', '\\color'),
])
def test_math_macros_that_link_style_or_load_are_refused_at_their_line(math, macro):
    _, page = render(f'r"""\nFine.\n\nThen {math} here.\n"""\nx = 1\n')
    assert len(page.errors) == 1 and page.errors[0].line == 4
    assert page.errors[0].message.startswith(macro + ' ')


@pytest.mark.parametrize('math', ['$a \\\\ href$', '$\\hrefx$', '$\\bbox[red,5px]{x}$', '$\\bbox{x} : y$',
                                  '$\\color{red}{x}$', '$\\text{class: style}$', '$\\color red x$',
                                  '$\\fcolorbox{red}{white}{x; y: z}$', '$\\color[rgb]{0.1,0.2,0.3}{x}$',
                                  '$\\textcolor{#ff0000}{a:b}$'])
def test_math_that_only_looks_like_a_forbidden_macro_is_kept(math):
    _, page = render(f'"""\nThen {math} here.\n"""\nx = 1\n')
    assert page.errors == []


# ## HTML in prose: the allow-list
#
# The full corpus of attacks is in `payloads.py`, run here and in Chromium (`test_browser.py`).

@pytest.mark.parametrize('name', sorted(PAYLOADS))
def test_no_payload_leaves_script_handlers_styles_or_unsafe_urls_in_the_html(name, tmp_path):
    write_tree(tmp_path, {'pkg/x': '<svg xmlns="http://www.w3.org/2000/svg"/>'})
    _, page = render(PAYLOADS[name], root=tmp_path)
    assert [] == dangers(page_html(page))


@pytest.mark.parametrize('dangerous, line, warning', [
    ('<script>window.pwned = 1</script>', 3, 'HTML tag <script> is not on the allow-list; removed'),
    ('<img src="x.png" onerror="window.pwned = 1">', 3, 'attribute onerror= of <img> is not on the allow-list'),
    ('<a href="#" onclick="window.pwned = 1">x</a>', 3, 'attribute onclick= of <a> is not on the allow-list'),
    ('<iframe src="https://example.com"></iframe>', 3, 'HTML tag <iframe> is not on the allow-list'),
    ('<div style="background: url(x)">x</div>', 3, 'attribute style= of <div> is not on the allow-list'),
    ('<a href="javascript:alert(1)">x</a>', 3, "unsafe URL 'javascript:alert(1)' removed"),
    ('[x](javascript:alert(1))', 3, "unsafe URL 'javascript:alert(1)' removed"),
    ('![x](https://example.com/tracker.png)', 3, "unsafe URL 'https://example.com/tracker.png' removed: images must be"),
])
def test_html_off_the_allow_list_is_removed_with_a_warning_at_its_line(dangerous, line, warning, tmp_path):
    write_tree(tmp_path, {'pkg/x.png': b'png'})
    _, page = render(f'"""\nFirst line.\nText {dangerous} more.\n"""\nx = 1\n', root=tmp_path)
    assert dangers(page_html(page)) == []
    assert any(w.startswith(f'pkg/m.py:{line}: {warning}') for w in page.warnings), page.warnings


def test_remote_https_images_pass_only_when_the_configuration_allows_them():
    source = parse('pkg/m.py', b'"""\n![x](https://example.com/a.png) ![y](http://example.com/b.png)\n"""\nx = 1\n')
    out = page_html(Renderer(REPO, lambda p: None, remote_images=True).render(source))
    assert 'src="https://example.com/a.png"' in out and 'http://example.com/b.png' not in out


def test_allowed_anchors_and_safe_links_are_kept():
    _, page = render('"""\n<a id="WeightDecay"></a>\n\n[AdamW](adamw.html), <sup>2</sup>, '
                     '[paper](https://arxiv.org/abs/1412.6980)\n"""\nx = 1\n')
    out = page_html(page)
    assert '<a id="WeightDecay"></a>' in out
    assert 'href="adamw.html"' in out and '<sup>2</sup>' in out and 'href="https://arxiv.org/abs/1412.6980"' in out
    assert page.warnings == []


def test_math_in_a_link_title_stays_text_and_cannot_open_a_tag():
    _, page = render('"""\n[x](a.html "cost $" onmouseover="alert(1)$")\n"""\nx = 1\n')
    out = page_html(page)
    assert dangers(out) == []
    assert '<a href="a.html" title="cost $&quot; onmouseover=&quot;alert(1)$">x</a>' in out


@pytest.mark.parametrize('url', ['javascript:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)',
                                 '\x01javascript:alert(1)', 'JavaScript:alert(1)', 'vbscript:x', 'data:text/html,x',
                                 '//evil.example/', ' //evil.example/', '\\\\evil.example/', '/\\evil.example/',
                                 '\n//evil.example/'])
def test_url_policy_refuses_schemes_and_other_hosts_however_they_are_written(url):
    assert url_problem('a', 'href', url) and url_problem('img', 'src', url)


@pytest.mark.parametrize('url', ['adam.html', 'adam.html#L3', '#WeightDecay', '../index.html', 'https://arxiv.org/abs/1',
                                 'mailto:a@b.example', 'results/plot.svg', '/absolute/path.html'])
def test_url_policy_lets_relative_and_web_links_through(url):
    assert url_problem('a', 'href', url) is None


def test_unsafe_urls_are_dropped_even_if_the_sanitiser_let_them_through(monkeypatch):
    monkeypatch.setattr('site_gen.render.sanitise', lambda fragment, remote_images: (fragment, []))
    _, page = render('"""\n[a](javascript:alert(1)) ![b](//evil.example/a.png) [c](//evil.example/)\n"""\nx = 1\n')
    out = page_html(page)
    assert 'javascript' not in out and 'evil.example' not in out


# ## Includes and images

def test_include_line_is_replaced_by_the_markdown_file_and_images_are_recorded(tmp_path):
    root = write_tree(tmp_path, {'pkg/results/t.md': '| k | v |\n|---|---|\n| lr | $\\alpha$ |\n',
                                 'pkg/results/p.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>'})
    _, page = render('"""\n![loss](results/p.svg)\n\n[[include: results/t.md]]\n"""\nx = 1\n', root=root)
    out = page_html(page)
    assert '<table>' in out and '<span class="math">$\\alpha$</span>' in out
    assert 'src="results/p.svg"' in out
    assert page.images == {'pkg/results/p.svg': 'pkg/results/p.svg'}
    assert page.deps == ['pkg/results/p.svg', 'pkg/results/t.md']


@pytest.mark.parametrize('text, line, message', [
    ('"""\nIntro\n\n[[include: results/none.md]]\n"""\nx = 1\n', 4, 'include file not found: results/none.md'),
    ('x = 0\n# ![plot](results/none.svg)\ny = 1\n', 2, 'image not found: results/none.svg'),
])
def test_missing_include_or_image_names_source_file_and_line(tmp_path, text, line, message):
    _, page = render(text, root=tmp_path)
    assert len(page.errors) == 1 and str(page.errors[0]).startswith(f'pkg/m.py:{line}: {message}')


def test_include_outside_the_source_tree_is_refused(tmp_path):
    _, page = render('"""\n[[include: ../../../etc/passwd]]\n"""\nx = 1\n', root=tmp_path)
    assert [str(e) for e in page.errors] == ['pkg/m.py:2: include ../../../etc/passwd points outside the source tree']


def test_image_in_included_markdown_is_relative_to_the_including_page(tmp_path):
    write_tree(tmp_path, {'pkg/results/t.md': '![plot](results/p.svg)\n', 'pkg/results/p.svg': '<svg/>'})
    _, page = render('"""\n[[include: results/t.md]]\n"""\nx = 1\n', root=tmp_path)
    assert page.images == {'pkg/results/p.svg': 'pkg/results/p.svg'}


def test_error_inside_an_included_file_names_that_file(tmp_path):
    write_tree(tmp_path, {'pkg/results/t.md': 'fine\n\nbroken $x\n'})
    _, page = render('"""\n[[include: results/t.md]]\n"""\nx = 1\n', root=tmp_path)
    assert str(page.errors[0]).startswith('pkg/results/t.md:3: unclosed $')


# ## Code

def test_multiline_string_is_highlighted_on_every_line_with_original_numbers():
    text = 'x = 1\n\n\ndef f():\n    """Doc."""\n    s = """one\n# two\nthree"""\n    return s\n'
    _, page = render(text)
    out = page_html(page)
    for n, line in [(6, 'one'), (7, '# two'), (8, 'three')]:
        row = re.search(rf'<span class="line" id="L{n}"><a class="ln" href="#L{n}">{n}</a>(.*?)</span>(?=<span class="line"|</code>)', out).group(1)
        assert re.search(r'<span class="s2">[^<]*' + re.escape(html.escape(line, quote=False)), row), row
    assert 'id="L5"' not in out, 'a docstring line is prose, not code'


@pytest.mark.parametrize('path', page_sources())
def test_every_code_line_of_every_source_is_shown_once_with_its_number(path):
    source, page = render((REPO / path).read_text(encoding='utf-8'), path)
    out = page_html(page)
    shown = [int(n) for n in re.findall(r'<span class="line" id="L(\d+)">', out)]
    # Blank lines at either end of a section's code are not shown; every other line is.
    code = []
    for section in source.sections:
        filled = [n for n in section.code if source.lines[n - 1].strip()]
        code += [n for n in section.code if filled and filled[0] <= n <= filled[-1]]
    assert shown == code


def test_inline_and_fenced_code_in_prose_are_highlighted():
    _, page = render('"""\nCall `init_state(state)`.\n\n```python\nfor p in ps:\n    pass\n```\n"""\nx = 1\n')
    out = page_html(page)
    assert '<code class="hl"><span class="n">init_state</span>' in out
    assert '<span class="k">for</span>' in out


def test_inline_code_is_highlighted_only_when_it_is_a_python_expression():
    """A name or a dotted name is coloured without asking the parser; a keyword alone, or text that is
    not Python, stays plain."""
    _, page = render('"""\nSee `torch.optim`, `lr`, `import`, `lambda`, `a.class`, `html/` and `x.None`.\n"""\nx = 1\n')
    out = page_html(page)
    assert '<code class="hl"><span class="n">torch</span><span class="o">.</span><span class="n">optim</span></code>' in out
    assert '<code class="hl"><span class="n">lr</span></code>' in out
    for plain in ('import', 'lambda', 'a.class', 'html/', 'x.None'):
        assert f'<code class="hl">{plain}</code>' in out


MARKDOWN_SAMPLE = (
    '`code` and \\*not em\\* and [a link](x.html) and ![an image](y.png) and <https://example.org> and '
    '<a@example.org> and <b>bold</b> &amp; *em* __strong__ _under_ **star** a line  \nbreak, [ref] and [ref][] '
    '![ref] and ![alt][ref]\n\n[ref]: z.html\n\n* a list\n* of items\n\n1. numbered\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n')


@pytest.mark.parametrize('path', page_sources() + ['sample'])
def test_skipping_inline_patterns_whose_text_is_absent_changes_no_markdown_output(path):
    """The renderer's Markdown tries an inline pattern only where the text it needs is present;
    Markdown itself, trying every pattern everywhere, makes the same HTML of every section."""
    ours = Renderer(REPO, lambda p: None).md
    assert isinstance(ours.treeprocessors['inline'], SkipPlainText)
    theirs = markdown.Markdown(extensions=[FencedCodeExtension(), TableExtension(use_align_attribute=True),
                                           SaneListExtension()])
    if path == 'sample':
        texts = [MARKDOWN_SAMPLE]
    else:
        texts = ['\n\n'.join('\n'.join(line for _, line in block) for block in section.prose)
                 for section in parse(path, (REPO / path).read_bytes()).sections]
    for text in texts:
        ours.reset()
        theirs.reset()
        assert ours.convert(text) == theirs.convert(text)


# ## Ids

def test_headings_get_unique_ids_from_their_text():
    _, page = render('"""\n## Weight decay\n\n## Weight decay\n"""\nx = 1\n')
    out = page_html(page)
    assert '<h2 id="weight-decay">' in out and '<h2 id="weight-decay-2">' in out


def test_section_permalinks_survive_edits_elsewhere_in_the_file():
    before = 'x = 1\n\n\nclass A:\n    """A."""\n\n    def go(self):\n        """Go."""\n        # Step one\n        return 1\n'
    after = before.replace('x = 1\n', 'x = 1\n# New prose above\ny = 2\nz = 3\n')
    ids = [[s.id for s in render(t)[1].sections] for t in (before, after)]
    for kept in ('section-A', 'section-A.go', ids[0][-1]):
        assert kept in ids[0] and kept in ids[1]


def test_search_entries_are_split_at_headings_with_their_own_anchors():
    _, page = render('"""\n# Adam\n\nIntro.\n\n## Why bias correction\n\nBoth averages start at zero.\n"""\nx = 1\n')
    assert page.sections[0].search == [['adam', 'Adam', 'Intro.'],
                                       ['why-bias-correction', 'Why bias correction', 'Both averages start at zero.']]


def test_a_removed_attribute_is_reported_at_its_own_line_not_where_its_name_is_a_word():
    _, page = render('"""\nA style of writing.\n\n<div style="color: red">x</div>\n"""\nx = 1\n')
    assert page.warnings == ['pkg/m.py:4: attribute style= of <div> is not on the allow-list; removed']
