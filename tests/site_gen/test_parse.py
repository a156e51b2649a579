"""
Parsing: every source line lands exactly once, in prose or code, in order, with its number;
comments, docstrings and front matter go where the issue says; bad input names file:line.
"""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_gen import SiteError
from site_gen.parse import parse
from tests.site_gen.conftest import REPO, repo_python_files


def assert_every_line_once_in_order(source):
    """The invariant, checked on the parsed sections."""
    n = len(source.lines)
    seen = []
    previous_last = 0
    for section in source.sections:
        prose = [number for block in section.prose for number, _ in block]
        code = list(section.code)
        assert prose == sorted(prose) and code == sorted(code), 'lines out of order within a section'
        numbers = prose + code
        assert numbers, 'empty section'
        assert min(numbers) > previous_last, 'a section starts before the previous one ends'
        previous_last = max(numbers)
        # A section made only of blank code lines is an empty section in disguise.
        assert prose or any(source.lines[k - 1].strip() for k in code), 'section of blank lines only'
        seen += numbers
    assert sorted(seen) == list(range(1, n + 1)), 'some line is missing or appears twice'


def code_of(source):
    return [source.lines[n - 1] for s in source.sections for n in s.code]


def prose_of(source):
    return [text for s in source.sections for block in s.prose for _, text in block]


@pytest.mark.parametrize('path', repo_python_files())
def test_every_repo_python_file_keeps_every_line_exactly_once(path):
    data = (REPO / path).read_bytes()
    if not data.strip():
        # An empty file is no page (the build skips it with a note); the parser says so, naming the file.
        with pytest.raises(SiteError, match=re.escape(path) + r':1: empty file'):
            parse(path, data)
        return
    assert_every_line_once_in_order(parse(path, data))


# ## Generated sources
#
# Random modules built from the constructs the parser must tell apart: comment runs at any
# indentation, `#` paragraph breaks, trailing comments, comments inside brackets, multi-line
# strings containing `#`, decorated defs and classes with multi-line signatures and docstrings.

prose_text = st.text(st.characters(blacklist_categories=('Cs', 'Cc', 'Zl', 'Zp')), max_size=20)
# Inside a docstring that is not raw, a backslash starts an escape, and `\N`, `\x`, `\u` or `\U`
# not followed by what they need is a syntax error: a backslash is written doubled there.
docstring_text = prose_text.map(lambda text: text.replace('\\', '\\\\'))


@st.composite
def statements(draw, indent: int, depth: int):
    pad = ' ' * indent
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(['comment', 'break', 'blank', 'code', 'trailing', 'string', 'call']
                                    + (['def', 'class'] if depth < 2 else [])))
        if kind == 'comment':
            lines.append(f'{pad}# {draw(prose_text)}'.rstrip())
        elif kind == 'break':
            lines.append(f'{pad}#')
        elif kind == 'blank':
            lines.append('')
        elif kind == 'code':
            lines.append(f'{pad}x = {draw(st.integers(0, 9))}')
        elif kind == 'trailing':
            lines.append(f'{pad}y = 1  # {draw(prose_text)}'.rstrip())
        elif kind == 'string':
            lines += [f'{pad}s = """first', '# not a comment', '    $x$ """']
        elif kind == 'call':
            lines += [f'{pad}print(1,', f'{pad}      # inside brackets', f'{pad}      2)']
        else:
            if draw(st.booleans()):
                lines.append(f'{pad}@decorator')
            if kind == 'def' and draw(st.booleans()):
                lines += [f'{pad}def f(a,', f'{pad}      b):']
            else:
                lines.append(f'{pad}{kind} F{"()" if kind == "def" else ""}:')
            docstring = draw(st.sampled_from(['none', 'one', 'many', 'raw', 'shared']))
            inner = ' ' * (indent + 4)
            if docstring == 'one':
                lines.append(f'{inner}"""One line about $\\theta$."""')
            elif docstring == 'many':
                lines += [f'{inner}"""', f'{inner}## Heading', '', f'{inner}{draw(docstring_text)}'.rstrip(), f'{inner}"""']
            elif docstring == 'raw':
                lines += [f"{inner}r'''\\frac{{a}}{{b}}", f"{inner}'''"]
            elif docstring == 'shared':
                lines.append(f'{inner}"""Shares its line."""; z = 1')
            lines += draw(statements(indent + 4, depth + 1))
            lines.append(f'{inner}pass')
    return lines


@st.composite
def modules(draw):
    lines = []
    if draw(st.booleans()):
        lines += ['"""', '---', 'title: T', 'summary: S', '---', '', '# Title', draw(docstring_text).strip(), '"""']
    lines += draw(statements(0, 0))
    return '\n'.join(lines) + draw(st.sampled_from(['', '\n', '\n\n']))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules())
def test_generated_sources_keep_every_line_exactly_once_in_order(text):
    try:
        source = parse('gen.py', text.encode())
    except SiteError as e:
        assert not text.strip(), f'unexpected error on a file that is not empty: {e}'
        return
    assert_every_line_once_in_order(source)
    # Code lines are the source lines themselves, so their numbers and text are the originals.
    for section in source.sections:
        for n in section.code:
            assert source.lines[n - 1] == text.split('\n')[n - 1]


# ## Where comments and docstrings go

def test_comment_run_is_prose_for_the_code_below_and_hash_alone_breaks_paragraphs():
    source = parse('m.py', b'x = 0\n    # first line\n# second line\n#\n# new paragraph\ny = 1\nz = 2\n')
    assert len(source.sections) == 2
    section = source.sections[1]
    assert [t for _, t in section.prose[0]] == ['first line', 'second line', '', 'new paragraph']
    assert section.code == [6, 7]


def test_trailing_comments_and_comments_inside_brackets_stay_in_code():
    source = parse('m.py', b'x = 1  # trailing\nf(1,\n  # inside\n  2)\n')
    assert len(source.sections) == 1
    assert source.sections[0].code == [1, 2, 3, 4]
    assert prose_of(source) == []


def test_docstring_is_prose_of_the_section_whose_code_is_the_multiline_header():
    text = b'x = 1\n\n\n@decorate\ndef f(a,\n      b):\n    """\n    ## F\n    Returns $a_b$.\n    """\n    return a\n'
    source = parse('m.py', text)
    f = source.sections[-1]
    assert f.name == 'f'
    assert [source.lines[n - 1] for n in f.code][:3] == ['@decorate', 'def f(a,', '      b):']
    assert [t for _, t in f.prose[0]] == ['', '## F', 'Returns $a_b$.', '']
    assert source.sections[0].code == [1, 2, 3]


def test_docstrings_come_from_source_text_not_from_doc():
    # In `__doc__` these escapes become a form feed, a tab and a newline.
    source = parse('m.py', b'def f():\n    """$\\frac{a}{b}$, $\\theta$ and $\\nu$ \\\\ row"""\n    pass\n')
    assert prose_of(source) == ['$\\frac{a}{b}$, $\\theta$ and $\\nu$ \\\\ row']


def test_docstring_with_non_ascii_text_on_its_last_line_is_prose():
    source = parse('m.py', 'def f():\n    """Decay by λ, then θ."""\n    pass\n'.encode())
    assert prose_of(source) == ['Decay by λ, then θ.']


def test_docstring_sharing_a_line_with_code_stays_in_code():
    source = parse('m.py', b'def f(): """inline"""\n\n\ndef g():\n    """Doc."""; x = 1\n')
    assert prose_of(source) == []


def test_comment_then_header_with_docstring_share_one_section():
    source = parse('m.py', b'x = 1\n# About f.\ndef f():\n    """More about f."""\n    pass\n')
    assert len(source.sections) == 2
    assert [[t for _, t in b] for b in source.sections[1].prose] == [['About f.'], ['More about f.']]


def test_blank_lines_never_create_empty_sections():
    source = parse('m.py', b'\n\n# a\n\n\n# b\n\nx = 1\n\n\n')
    assert len(source.sections) == 1
    assert_every_line_once_in_order(source)


def test_front_matter_sets_title_and_summary_and_is_not_shown():
    source = parse('m.py', b'"""\n---\ntitle: Adam\nsummary: One line.\n---\n\n# Adam\n"""\nx = 1\n')
    assert (source.title, source.summary) == ('Adam', 'One line.')
    assert 'title: Adam' not in prose_of(source)
    assert '# Adam' in prose_of(source)


def test_markdown_file_is_one_prose_section_titled_by_its_heading():
    source = parse('README.md', b'Intro\n\n# The title\n\nText with $x$.\n')
    assert source.title == 'The title'
    assert len(source.sections) == 1 and source.sections[0].code == []


# ## Bad input names file:line and says what is wrong

@pytest.mark.parametrize('data, line, message', [
    (b'x = 1\ndef f(:\n    pass\n', 2, 'syntax error'),
    (b'x = 1\ny = "caf\xe9"\n', 2, 'not UTF-8: byte 0xe9'),
    (b'', 1, 'empty file'),
    (b'  \n\n', 1, 'empty file'),
])
def test_unreadable_input_is_reported_with_file_and_line(data, line, message):
    with pytest.raises(SiteError) as error:
        parse('pkg/bad.py', data)
    assert str(error.value).startswith(f'pkg/bad.py:{line}: ')
    assert message in str(error.value)


@pytest.mark.parametrize('data, errors', [
    (b'"""\n---\ntitle: T\nsummary: S\n"""\nx = 1\n', ['pkg/bad.py:2: front matter opened with']),
    (b'"""\n---\ntitle: [T\nsummary: S\n---\n"""\nx = 1\n', ['pkg/bad.py:4: front matter is not valid YAML']),
    (b'"""\n---\nauthor: me\n---\n"""\nx = 1\n', ['pkg/bad.py:2: front matter needs a one-line `title:`',
                                                   'pkg/bad.py:2: front matter needs a one-line `summary:`']),
])
def test_every_front_matter_error_is_recorded_at_its_line(data, errors):
    source = parse('pkg/bad.py', data)
    assert [str(e)[:len(expected)] for e, expected in zip(source.errors, errors)] == errors
    assert len(source.errors) == len(errors)


def test_unknown_front_matter_key_is_a_warning_at_its_line_and_the_page_keeps_its_title():
    source = parse('pkg/m.py', b'"""\n---\ntitle: T\nsummary: S\nredirect: elsewhere\n---\n"""\nx = 1\n')
    assert source.errors == []
    assert source.warnings == ["pkg/m.py:5: unknown front-matter key 'redirect' ignored (known: title, summary)"]
    assert (source.title, source.summary) == ('T', 'S')


def test_comment_only_file_is_a_page_of_prose():
    source = parse('pkg/notes.py', b'\n# # Notes\n#\n# Only prose here.\n')
    assert source.title == 'Notes'
    assert prose_of(source) == ['# Notes', '', 'Only prose here.']
    assert_every_line_once_in_order(source)
