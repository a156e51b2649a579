"""
---
title: Highlight code
summary: Python coloured from the tokens the parser already read; other languages by Pygments.
---

# Highlight

A Python page is coloured **from the tokens that [parse](parse.html) already made**, so the
file is read once: a multi-line string is one token, and its lines are split afterwards,
keeping their numbers. Each token gets the CSS class Pygments
would give it (`k` keyword, `nf` function name, `s2` string, ...), so Pygments' colour themes
apply. Pygments itself is about four times slower on the same file; it still colours fences in
other languages (`bash`, `toml`, doctests as `pycon`, ...).

Every function returns HTML, one string per source line.
"""

import ast
import builtins
import functools
import html
import keyword
import re
import warnings
from typing import List, Optional, Tuple

from site_gen.parse import CLOSING, OPENING, Token, scan

# Keywords Pygments colours apart: constants, operators that are words, and import statements.
KEYWORD_CLASSES = {**{word: 'k' for word in keyword.kwlist}, 'True': 'kc', 'False': 'kc', 'None': 'kc',
                   'and': 'ow', 'or': 'ow', 'not': 'ow', 'in': 'ow', 'is': 'ow'}
MAGIC_VARIABLES = {'__all__', '__annotations__', '__bases__', '__builtins__', '__class__', '__debug__', '__dict__',
                   '__doc__', '__file__', '__func__', '__globals__', '__metaclass__', '__module__', '__mro__',
                   '__name__', '__qualname__', '__self__', '__slots__', '__weakref__', '__package__', '__spec__',
                   '__path__', '__loader__', '__code__', '__defaults__', '__kwdefaults__', '__closure__'}
NAME_CLASSES = {**{name: 'ne' if isinstance(value, type) and issubclass(value, BaseException) else 'nb'
                   for name, value in vars(builtins).items() if not name.startswith('_')},
                'self': 'bp', 'cls': 'bp', 'Ellipsis': 'bp', 'NotImplemented': 'bp',
                'True': 'kc', 'False': 'kc', 'None': 'kc'}
PUNCTUATION = set('()[]{},:;')
STRING_RE = re.compile(r'([A-Za-z]*)(.*)', re.S)
EMPTY_SPAN_RE = re.compile(r'<span class="\w+"></span>')

_pygments_lexers: dict = {}


def python(text: str, tokens: Optional[List[Token]] = None) -> List[str]:
    """`text` as HTML lines; `tokens` are its tokens, when the parser already has them."""
    out: List[str] = []
    run: List[str] = []     # the text of neighbouring tokens of one class, which share a `<span>`
    run_css = ''
    previous = ''           # the last significant token
    line_start = True       # no significant token yet on this logical line
    depth = 0               # brackets open: a line end inside them does not end the statement
    decorator = False       # the last `@` started its line
    context = ''            # 'def' or 'class' until its name; 'import' or 'from' while module names follow
    for kind, string, start in scan(text) if tokens is None else tokens:
        css = ''
        if kind == 'name':
            dunder = string.startswith('__') and string.endswith('__')
            if context in ('def', 'class'):
                css = 'nc' if context == 'class' else 'fm' if dunder else 'nf'
                context = ''
            elif context == 'from' and string == 'import':
                css, context = 'kn', ''
            elif context in ('import', 'from'):
                css = 'k' if string == 'as' else 'nn'
            elif line_start and string in ('import', 'from'):
                css, context = 'kn', string
            elif dunder:
                css = 'vm' if string in MAGIC_VARIABLES else 'fm'
            elif previous == '.':
                css = 'n'
            elif previous == '@' and decorator:
                css, run_css = 'nd', 'nd'
            elif string in KEYWORD_CLASSES:
                css = KEYWORD_CLASSES[string]
                context = string if string in ('def', 'class') else context
            else:
                css = NAME_CLASSES.get(string, 'n')
            previous, line_start = string, False
        elif kind == 'op':
            css = 'nn' if string == '.' and context in ('import', 'from') else 'p' if string in PUNCTUATION else 'o'
            decorator = string == '@' and line_start
            depth += string in OPENING
            depth -= string in CLOSING
            previous, line_start = string, False
        elif kind == 'string':
            prefix, body = STRING_RE.match(string).groups()
            css = 'sd' if line_start and body[:3] in ('"""', "'''") else 's2' if body[:1] == '"' else 's1'
            if prefix:
                out.append(span(run_css, ''.join(run)))
                run_css, run = 'sa', [prefix]
                string = body
            previous, line_start = string, False
        elif kind == 'number':
            css = number_class(string)
            previous, line_start = string, False
        elif kind == 'comment':
            css = 'ch' if start == 0 and string.startswith('#!') else 'c1'
        elif kind == 'newline' and depth == 0:
            line_start, context = True, ''
        if css != run_css:
            out.append(span(run_css, ''.join(run)))
            run_css, run = css, []
        run.append(string)
    out.append(span(run_css, ''.join(run)))
    return ''.join(out).split('\n')


def span(css: str, text: str) -> str:
    """Escaped text in a `<span>` of its class, closed at each line end and opened again after it."""
    if '&' in text or '<' in text or '>' in text:
        text = text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    if not css or not text:
        return text
    if '\n' in text:
        return '\n'.join(f'<span class="{css}">{line}</span>' if line else '' for line in text.split('\n'))
    return f'<span class="{css}">{text}</span>'


def number_class(number: str) -> str:
    lower = number.lower()
    if lower.startswith(('0x', '0b', '0o')):
        return {'x': 'mh', 'b': 'mb', 'o': 'mo'}[lower[1]]
    return 'mf' if any(c in lower for c in '.ej') else 'mi'


def lines_of(pieces: List[Tuple[str, str]]) -> List[str]:
    """
    Classed pieces of text to one HTML string per line: a piece that spans lines is closed at
    the end of each line and opened again on the next; neighbours of one class share a `<span>`.
    """
    merged: List[Tuple[str, str]] = []
    for css, value in pieces:
        if merged and merged[-1][0] == css:
            merged[-1] = (css, merged[-1][1] + value)
        elif value:
            merged.append((css, value))
    out = []
    for css, value in merged:
        text = value.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
        if css:
            if '\n' in text:
                text = text.replace('\n', f'</span>\n<span class="{css}">')
            out.append(f'<span class="{css}">{text}</span>')
        else:
            out.append(text)
    return EMPTY_SPAN_RE.sub('', ''.join(out)).split('\n')


def code(text: str, language: str = 'python') -> List[str]:
    """Any language Pygments knows; Python by our own tokens, unless it does not tokenize."""
    if language in ('python', 'py', 'python3'):
        return python(text)
    return pygments_lines(text, language)


def pygments_lines(text: str, language: str) -> List[str]:
    """Pygments' colours, or the plain text when it knows no such language."""
    from pygments.lexers import get_lexer_by_name
    from pygments.token import STANDARD_TYPES, Error
    from pygments.util import ClassNotFound
    lexer = _pygments_lexers.get(language)
    if lexer is None:
        try:
            lexer = _pygments_lexers[language] = get_lexer_by_name(language, stripnl=False, ensurenl=False, tabsize=0)
        except ClassNotFound:
            return [html.escape(line, quote=False) for line in text.split('\n')]

    def css_class(token_type) -> str:
        # An `Error` token is only Pygments not knowing a fragment; no red boxes in prose.
        if token_type in Error:
            return ''
        while token_type not in STANDARD_TYPES:
            token_type = token_type.parent
        return STANDARD_TYPES[token_type]

    return lines_of([(css_class(kind), value) for kind, value in lexer.get_tokens(text)])


@functools.lru_cache(maxsize=4096)
def inline(snippet: str) -> str:
    """Inline code is coloured only when it is a Python expression; `html/` or `make html` stay plain."""
    if not dotted_name(snippet):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                ast.parse(snippet, mode='eval')
        except (SyntaxError, ValueError):
            return html.escape(snippet, quote=False)
    return python(snippet)[0] if '\n' not in snippet else html.escape(snippet, quote=False)


def dotted_name(snippet: str) -> bool:
    """
    A name or a dotted name (`lr`, `torch.optim`), none of whose parts is a keyword: an expression,
    without asking the parser. Most inline code is one.
    """
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in snippet.split('.'))
