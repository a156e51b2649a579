"""
An extraction of the math spans in a page's prose that is independent of the generator's own, so
that tests and the Pycco benchmark can check what reaches the HTML against something site_gen did
not compute. It is deliberately simpler: the parsed prose, with code spans and fences removed.
"""

import re

from site_gen.parse import Source

MATH_RE = re.compile(r'\$\$.+?\$\$|\\begin\{([a-z]+\*?)\}.+?\\end\{\1\}|\\\[.+?\\\]|\\\(.+?\\\)|(?<!\\)\$.+?(?<!\\)\$', re.S)


def math_spans(source: Source):
    """Every `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]` and `\\begin{…}…\\end{…}` in the prose of `source`."""
    spans = []
    for section in source.sections:
        for block in section.prose:
            text = '\n'.join(t for _, t in block)
            text = re.sub(r'```.*?```', '', text, flags=re.S)
            text = re.sub(r'`[^`\n]*`', '', text)
            spans += [m.group() for m in MATH_RE.finditer(text)]
    return spans
