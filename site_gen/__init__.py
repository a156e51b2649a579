"""
---
title: The literate site generator
summary: Renders annotated Python modules into an offline side-by-side site with math, search and permalinks.
---

# site_gen

A Pycco-sized generator that reads as a pipeline, parse → render → typeset → site → write,
each stage a module whose functions return values:

* [`parse`](parse.html): source text to sections of prose and code, via `tokenize`, never `__doc__`
* [`render`](render.html): prose to HTML and code to coloured lines, with helpers of their own:
  [`docstrings`](docstrings.html) (Google/NumPy sections, doctests, reST math to Markdown),
  [`tex`](tex.html) (math cut out before Markdown and checked),
  [`sanitise`](sanitise.html) (the parsed HTML allow-listed) and
  [`highlight`](highlight.html) (Python from the parser's tokens, other languages by Pygments)
* [`typeset`](typeset.html): every formula to HTML and MathML by MathJax under Node, once per build
* [`site`](site.html): pages, navigation, index pages, search index, and incremental, atomic
  writes that stay inside the output folder; [`config`](config.html) reads `[tool.site_gen]`,
  and [`layout`](layout.html) writes the HTML around the sections, every value escaped unless
  it is marked safe
* [`cache`](cache.html): the one place that decides what a build reuses: the last build's pages
  (from its untrusted manifest) and typeset formulas (from a local store, by their TeX)
* [`check`](check.html): links, URLs, math and freshness of a built site
* [`paths`](paths.html): the path rules the stages share

`site-gen --help` (or `python -m site_gen --help`) explains the command line.
"""


class SiteError(Exception):
    """
    A problem in an input file, named by `path:line` so that an editor can jump to it.
    """

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f'{path}:{line}: {message}')
        self.path = path
        self.line = line
        self.message = message


class BuildError(Exception):
    """
    Every `SiteError` of one build, reported together; nothing was written.
    """

    def __init__(self, errors: list):
        self.errors = errors
        super().__init__('\n'.join(str(e) for e in errors))
