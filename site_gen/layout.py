"""
---
title: Lay out a page
summary: The HTML around a page's sections, written as Python with markupsafe, so that every value is escaped unless it is marked safe.
---

# Layout

A page is a head (title, description, stylesheets, the CSS of its formulas), a top bar
(breadcrumb, search, theme switch), its sections side by side, the cards of an index page, and
links to the previous and next pages of its folder.

It is written here, as Python, rather than in a template language, and it **escapes by
construction**. Every piece is made with [markupsafe](https://markupsafe.palletsprojects.com/)'s
`Markup`: `Markup('<a href="{}">{}</a>').format(href, title)` HTML-escapes each argument (`&`,
`<`, `>`, both quotes) unless the argument is itself `Markup`, and [`join`](#join) escapes each
piece the same way. A title, a summary, a URL or a file name can only reach the page as text.
The HTML that is meant to pass as it is, the prose the [sanitiser](sanitise.html) allowed, the
code lines [highlight](highlight.html) escaped, and the CSS of the formulas
[typeset](typeset.html) drew, is marked safe in one place, [`made_safe`](#made_safe), so that a
reader can check every way in by reading one function. This is what Jinja2's autoescape gave
(it escapes with the same library), without loading a template engine for one template: a build
that lays out pages no longer imports Jinja2, whose import alone cost 0.05 s of CPU, about a
twentieth of a full build.
"""

from typing import List, Optional, Tuple

from markupsafe import Markup, escape

Link = Tuple[str, str]


# <a id="made_safe"></a>
# The only place where a string becomes `Markup` without being escaped. Each of these is HTML
# or CSS that a stage of the pipeline made and vouches for:
#
# * a section's prose: Markdown's HTML after the sanitiser's allow-list, with our additions
#   (math, highlighted code, heading ids), see [render](render.html);
# * a section's code: lines that [highlight](highlight.html) escaped and coloured;
# * a page's math CSS: MathJax's rules for the characters its formulas draw, with every `</`
#   broken so that nothing ends the `<style>` early, see [typeset](typeset.html).

def made_safe(html: str) -> Markup:
    return Markup(html)


# <a id="join"></a>
# Pieces of a page in order, each escaped unless it is `Markup`. `Markup('').join` does the same,
# but it copies every piece that is already `Markup` (twice, slowly: turning one `Markup` into
# another is about forty times slower than a copy), and a page's prose runs to hundreds of kB.

def join(pieces) -> Markup:
    return Markup(''.join(piece if isinstance(piece, Markup) else escape(piece) for piece in pieces))


def page(page, sections, math_style: str, math_fonts: List[str], *, crumbs: List[Link], prev: Optional[Link], next: Optional[Link],
         listing: List[Tuple[str, str, str]], subfolders: List[Tuple[str, str, str]], source_href: Optional[str],
         root: str, source_url: Optional[str], canonical: Optional[str], site_title: str) -> str:
    """
    The whole page: `page` names it (`url`, `source`, `title`, `summary`), `sections` are its
    typeset sections, and the keyword arguments are its navigation, as `site.navigation` finds it.
    """
    literate = any(s.code for s in sections)
    title = page.title + (' · ' + site_title if page.url != 'index.html' else '')
    return join([
        head(title, page.summary or page.title, canonical, root, site_title, math_style, math_fonts),
        Markup('<body class="{}">\n').format('literate' if literate else 'article'),
        top_bar(crumbs, page.title),
        Markup('<main>\n'),
        header(page, source_href),
        *(piece for s in sections for piece in section(s, source_url)),
        cards(subfolders, listing) if listing or subfolders else Markup(''),
        pager(prev, next),
        Markup('</main>\n</body>\n</html>\n'),
    ])


def head(title: str, description: str, canonical: Optional[str], root: str, site_title: str, math_style: str,
         math_fonts: List[str]) -> Markup:
    """
    The page's title and description, its canonical link when the site has a base URL, and the
    shared stylesheets and scripts, found from the page through `root` (`../` once per folder).
    `theme.js` comes after the stylesheets, which name the math fonts it asks for
    (`data-math-fonts`, those the page's formulas draw with).
    """
    style = made_safe(math_style)
    return join([
        Markup('<!DOCTYPE html>\n<html lang="en" data-theme="light" data-root="{}" data-site="{}"{}>\n<head>\n'
               '<meta charset="utf-8">\n'
               '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
               '<title>{}</title>\n<meta name="description" content="{}">\n').format(
            root, site_title, Markup(' data-math-fonts="{}"').format(' '.join(math_fonts)) if math_fonts else '',
            title, description),
        Markup('<link rel="canonical" href="{}">\n').format(canonical) if canonical else Markup(''),
        Markup('<link rel="icon" href="data:,">\n'
               '<link rel="stylesheet" href="{0}assets/site.css">\n'
               '<link rel="stylesheet" href="{0}assets/pygments.css">\n'
               '<link rel="stylesheet" href="{0}assets/math.css">\n'
               '<script src="{0}assets/theme.js"></script>\n').format(root),
        *([Markup('<style>\n'), style, Markup('</style>\n')] if style else []),
        Markup('<script defer src="{}assets/site.js"></script>\n</head>\n').format(root),
    ])


# The search box fills `#search-results` from the search index (`assets/site.js`); the button
# switches the theme, and shows the moon or the sun by the theme it would switch to.
TOOLS = Markup('''\
  <div class="tools">
    <div class="search" role="search">
      <input type="search" id="search" placeholder="Search" aria-label="Search this site" autocomplete="off" spellcheck="false">
      <ol id="search-results" hidden></ol>
    </div>
    <button id="theme-toggle" type="button" title="Switch between light and dark" aria-label="Switch between light and dark">
      <svg class="icon-moon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z"/></svg>
      <svg class="icon-sun" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><circle cx="12" cy="12" r="4.5"/><path d="M12 1.5v3M12 19.5v3M1.5 12h3M19.5 12h3M4.6 4.6l2.1 2.1M17.3 17.3l2.1 2.1M4.6 19.4l2.1-2.1M17.3 6.7l2.1-2.1"/></svg>
    </button>
  </div>
''')


def top_bar(crumbs: List[Link], here: str) -> Markup:
    """The breadcrumb, from the site's home page down to this page's folder, then the tools."""
    trail = join(Markup('<a href="{}">{}</a><span class="sep" aria-hidden="true">›</span>').format(href, title)
                            for title, href in crumbs)
    return Markup('<header class="topbar">\n  <nav class="crumbs" aria-label="Breadcrumb">\n'
                  '{}    <span class="here" aria-current="page">{}</span>\n  </nav>\n{}</header>\n').format(
        trail, here, TOOLS)


def header(page, source_href: Optional[str]) -> Markup:
    """A page from a source links to that file; a generated index page has a heading of its name instead."""
    if page.source:
        return Markup('<div class="section meta">\n'
                      '  <div class="prose"><a class="source-link" href="{}">{}</a></div>\n'
                      '  <div class="code"></div>\n</div>\n').format(source_href, page.source)
    return Markup('<div class="section">\n'
                  '  <div class="prose"><h1 id="{}">{}</h1></div>\n'
                  '  <div class="code"></div>\n</div>\n').format(page.title.lower().replace(' ', '-'), page.title)


def section(s, source_url: Optional[str]) -> List[Markup]:
    """
    One section, prose left and code right, with a permalink, and a link to its lines in the
    repository when the configuration names one. Its pieces, not their join: a page joins all of
    its pieces at once, and its prose and code are most of its bytes.
    """
    view_source = Markup('')
    if source_url and s.first_line:
        lines = f'L{s.first_line}' + (f'-L{s.last_line}' if s.last_line != s.first_line else '')
        view_source = Markup('<a class="view-source" href="{}#{}" title="View lines {}-{} in the repository">'
                             'source</a>').format(source_url, lines, s.first_line, s.last_line)
    return [Markup('<section class="section" id="{0}">\n  <div class="prose"><a class="permalink" href="#{0}" '
                   'title="Link to this section" aria-label="Link to this section">#</a>').format(s.id),
            made_safe(s.prose), Markup('</div>\n  <div class="code">'), view_source, made_safe(s.code),
            Markup('</div>\n</section>\n')]


def cards(subfolders: List[Tuple[str, str, str]], listing: List[Tuple[str, str, str]]) -> Markup:
    """An index page lists its subfolders, then the other pages of its folder, each with its summary."""
    card = Markup('      <li><a href="{}"><span class="card-title">{}</span><span class="card-summary">{}</span></a></li>\n')
    items = ([card.format(href, title + '/', summary) for title, summary, href in subfolders]
             + [card.format(href, title, summary) for title, summary, href in listing])
    return Markup('<section class="section listing" id="section-pages">\n  <div class="prose">\n'
                  '    <h2 id="pages-in-this-folder">In this folder</h2>\n    <ul class="cards">\n'
                  '{}    </ul>\n  </div>\n  <div class="code"></div>\n</section>\n').format(join(items))


def pager(prev: Optional[Link], next: Optional[Link]) -> Markup:
    """Links to the previous and the next page in the folder's reading order."""
    links = join([
        Markup('<a class="prev" href="{}" rel="prev"><span class="label">Previous</span>{}</a>').format(prev[1], prev[0])
        if prev else Markup(''),
        Markup('<a class="next" href="{}" rel="next"><span class="label">Next</span>{}</a>').format(next[1], next[0])
        if next else Markup(''),
    ])
    return Markup('<nav class="section pager" aria-label="Pages in this folder">\n  <div class="prose">\n'
                  '{}  </div>\n  <div class="code"></div>\n</nav>\n').format(links)
