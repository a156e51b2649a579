"""
Building: layout and navigation of pages, determinism, incremental and atomic builds,
the bad-input policy (the build fails and leaves the last good site untouched), `check`,
and the command line.
"""

import hashlib
import html
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from html.parser import HTMLParser

import pytest

from site_gen import BuildError, SiteError
from site_gen.__main__ import main
from site_gen.check import check
from site_gen.config import Config
from site_gen.cache import load_manifest
from site_gen.site import build, inside
from tests.site_gen.conftest import REPO, SMALL_SITE, write_tree

SOURCES = ['pkg', 'README.md']


def digest_tree(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture
def built(small_site):
    build(small_site, SOURCES, small_site / 'html')
    return small_site


def read(site, page):
    return (site / 'html' / page).read_text(encoding='utf-8')


# ## Pages and navigation

def test_pages_are_laid_out_by_folder_with_init_and_readme_as_index_pages(built):
    pages = sorted(p for p in digest_tree(built / 'html') if p.endswith('.html'))
    assert pages == ['index.html', 'pkg/alpha.html', 'pkg/beta.html', 'pkg/index.html',
                     'pkg/sub/gamma.html', 'pkg/sub/index.html']


def test_page_has_title_description_breadcrumb_and_source_link_and_no_canonical_without_a_base_url(built):
    page = read(built, 'pkg/sub/gamma.html')
    assert '<title>Gamma · Small site</title>' in page
    assert '<meta name="description" content="Nested module.">' in page
    assert 'rel="canonical"' not in page and 'labml-opt' not in page
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', page, re.S).group()
    assert re.findall(r'href="([^"]+)">([^<]+)</a>', crumbs) == [
        ('../../index.html', 'Small site'), ('../index.html', 'The package'), ('index.html', 'Sub')]
    assert 'href="../../../pkg/sub/gamma.py"' in page


def test_previous_and_next_stay_within_the_folder(built):
    alpha, beta, index = (read(built, f'pkg/{p}.html') for p in ('alpha', 'beta', 'index'))
    assert re.search(r'class="prev" href="index.html".*The package', alpha)
    assert re.search(r'class="next" href="beta.html".*Beta', alpha)
    assert 'class="next"' not in beta and re.search(r'class="prev" href="alpha.html"', beta)
    assert 'class="prev"' not in index and 'class="next" href="alpha.html"' in index


def test_index_page_lists_its_pages_and_subfolders_with_summaries(built):
    index = read(built, 'pkg/index.html')
    listing = re.search(r'<ul class="cards">.*?</ul>', index, re.S).group()
    assert re.findall(r'href="([^"]+)"', listing) == ['sub/index.html', 'alpha.html', 'beta.html']
    assert 'A nested package.' in listing and 'The first module, with math.' in listing


def test_folder_without_index_source_gets_a_generated_index(tmp_path):
    write_tree(tmp_path, {'a/b.py': '"""\n---\ntitle: B\nsummary: Bee.\n---\n"""\nx = 1\n'})
    build(tmp_path, ['a'], tmp_path / 'out')
    assert 'Bee.' in (tmp_path / 'out/a/index.html').read_text()
    assert (tmp_path / 'out/index.html').is_file()


HOSTILE = '<img src=x onerror=alert(1)> & "q" \'s </title>'


class Elements(HTMLParser):
    """Each element of a page as `(tag, attributes, text)`, the text of everything inside it, unescaped."""

    def __init__(self, page: str):
        super().__init__()
        self.found, self.open = [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs), []))
        if tag not in ('meta', 'link', 'input', 'img', 'path', 'circle'):
            self.open.append(self.found[-1])

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for element in self.open:
            element[2].append(data)

    def text(self, tag, **attributes):
        return [''.join(text) for name, attrs, text in self.found
                if name == tag and all(attrs.get(k) == v for k, v in attributes.items())]


def test_titles_summaries_and_the_site_name_reach_the_page_only_as_text(small_site):
    """Every value the page is laid out from is escaped unless it is marked safe: a title, a summary or a
    site name with markup in it is shown as written, in every place it appears, and makes no element."""
    front = f'---\ntitle: {json.dumps("Beta " + HOSTILE)}\nsummary: {json.dumps("Sum " + HOSTILE)}\n---\n'
    write_tree(small_site, {'pyproject.toml': f'[tool.site_gen]\nname = {json.dumps("Site " + HOSTILE)}\n',
                            'pkg/beta.py': f'"""\n{front}"""\n\nB = 2\n'})
    build(small_site, SOURCES, small_site / 'html')
    pages = {name: Elements(read(small_site, name)) for name in ('pkg/beta.html', 'pkg/alpha.html', 'pkg/index.html')}
    for page in pages.values():
        assert not [e for e in page.found if e[0] == 'img' or any(name.startswith('on') for name in e[1])]
        assert page.found[0][1]['data-site'] == 'Site ' + HOSTILE
    beta, alpha, index = pages.values()
    assert beta.text('title') == [f'Beta {HOSTILE} · Site {HOSTILE}']
    assert [e[1]['content'] for e in beta.found if e[1].get('name') == 'description'] == ['Sum ' + HOSTILE]
    assert beta.text('span', **{'class': 'here'}) == ['Beta ' + HOSTILE]
    assert alpha.text('a', **{'class': 'next'}) == ['NextBeta ' + HOSTILE]
    assert f'Beta {HOSTILE}' in index.text('span', **{'class': 'card-title'})
    assert f'Sum {HOSTILE}' in index.text('span', **{'class': 'card-summary'})


def test_images_are_copied_next_to_the_page_and_includes_inlined(built):
    assert (built / 'html/pkg/sub/results/plot.svg').read_bytes() == (built / 'pkg/sub/results/plot.svg').read_bytes()
    gamma = read(built, 'pkg/sub/gamma.html')
    assert 'src="results/plot.svg"' in gamma and '<table>' in gamma
    assert '<img loading="lazy" ' in gamma, 'a page does not wait for its images to load'


def test_links_to_sources_in_prose_become_links_to_their_pages(tmp_path):
    write_tree(tmp_path, {'p/a.py': '"""\nSee [b](b.py#section-f).\n"""\nx = 1\n',
                          'p/b.py': 'def f():\n    """F."""\n    return 1\n'})
    build(tmp_path, ['p'], tmp_path / 'out')
    assert 'href="b.html#section-f"' in (tmp_path / 'out/p/a.html').read_text()
    assert check(tmp_path, ['p'], tmp_path / 'out') == []


def test_search_index_covers_titles_headings_and_prose(built):
    index = (built / 'html/assets/search-index.js').read_text()
    assert index.startswith('window.SEARCH_INDEX = ')
    assert 'Bias correction lives here.' in index and '"Gamma"' in index and 'Alpha of $x$' in index


def test_math_is_typeset_in_the_page_with_local_fonts_and_no_math_script_and_no_cdn(built):
    files = digest_tree(built / 'html')
    assert 'assets/math.css' in files and 'assets/mathjax/LICENSE' in files
    assert not any(f.endswith('.js') and 'mathjax' in f.lower() for f in files), 'no MathJax script is shipped'
    fonts = re.findall(r'url\("?([^")]+)"?\)', read(built, 'assets/math.css'))
    assert fonts and all(f'assets/{font}' in files for font in fonts), 'every font the stylesheet names is there'
    for page in (p for p in files if p.endswith('.html')):
        text = read(built, page)
        head = re.sub(r'<link rel="canonical"[^>]*>', '', text.split('<main>')[0])
        assert not re.search(r'(src|href)="(https?:)?//', head)
        assert re.findall(r'<script[^>]*src="([^"]*)"', text) == ['../' * page.count('/') + f'assets/{name}'
                                                                  for name in ('theme.js', 'site.js')]
    alpha = read(built, 'pkg/alpha.html')
    assert '<mjx-container class="MathJax" jax="CHTML"' in alpha and '$\\alpha_t$' not in alpha.replace(
        '<span class="tex" aria-hidden="true">$\\alpha_t$</span>', '')


# ## Determinism, incremental and atomic builds

def test_same_input_gives_byte_identical_output_wherever_it_is_built(small_site, tmp_path):
    build(small_site, SOURCES, small_site / 'html')
    copy = write_tree(tmp_path / 'elsewhere', {})
    for path in small_site.rglob('*'):
        if path.is_file() and 'html' not in path.relative_to(small_site).parts:
            write_tree(copy, {path.relative_to(small_site).as_posix(): path.read_bytes()})
    build(copy, SOURCES, copy / 'html')
    assert digest_tree(small_site / 'html') == digest_tree(copy / 'html')


def test_unchanged_tree_renders_nothing_and_writes_nothing(built):
    # How long that takes is measured by benchmarks/site_build.py, not here: this machine is shared
    report = build(built, SOURCES, built / 'html')
    assert (report.rendered, report.written, report.removed) == ([], [], [])


def test_a_build_with_nothing_to_render_imports_no_renderer_and_makes_no_asset_again(built):
    """Markdown, the sanitiser, Pygments and PyYAML are a third of a no-change build's time, and the
    assets depend on the generator alone; a hand-edited asset is made again all the same."""
    script = ('import sys; from pathlib import Path; from site_gen.site import build; from site_gen import site; '
              'site.pygments_css = None; '
              f'report = build(Path({str(built)!r}), {SOURCES!r}, Path({str(built / "html")!r})); '
              'print(sorted({"markdown", "nh3", "pygments", "yaml"} & set(sys.modules)), report.written)')
    result = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[] []'
    (built / 'html/assets/pygments.css').write_text('tampered')
    assert build(built, SOURCES, built / 'html').written == ['assets/pygments.css']
    assert 'tampered' not in read(built, 'assets/pygments.css')


def test_editing_one_module_renders_only_its_page(built):
    beta = built / 'pkg/beta.py'
    beta.write_text(beta.read_text().replace('return 2', 'return 3'))
    report = build(built, SOURCES, built / 'html')
    assert report.rendered == ['pkg/beta.html']
    assert 'pkg/beta.html' in report.written and 'pkg/alpha.html' not in report.written


def test_editing_an_include_re_renders_the_page_that_includes_it(built):
    (built / 'pkg/sub/results/table.md').write_text('| a |\n|---|\n| 42 |\n')
    report = build(built, SOURCES, built / 'html')
    assert report.rendered == ['pkg/sub/gamma.html'] and '42' in read(built, 'pkg/sub/gamma.html')


def test_hand_edited_output_is_rewritten(built):
    (built / 'html/pkg/alpha.html').write_text('tampered')
    build(built, SOURCES, built / 'html')
    assert 'tampered' not in read(built, 'pkg/alpha.html')


def test_deleted_source_removes_its_page(built):
    (built / 'pkg/beta.py').unlink()
    report = build(built, SOURCES, built / 'html')
    assert report.removed == ['pkg/beta.html'] and not (built / 'html/pkg/beta.html').exists()
    assert 'beta.html' not in read(built, 'pkg/alpha.html')


@pytest.mark.parametrize('name, content, line', [
    ('pkg/beta.py', 'def broken(:\n', 1),
    ('pkg/beta.py', '"""\nUnclosed $x.\n"""\nx = 1\n', 2),
    ('pkg/beta.py', b'x = "\xff"\n', 1),
    ('pkg/new.py', '"""\n---\ntitle: T\n---\n"""\nx = 1\n', 2),
    ('pkg/new.py', '"""\n![gone](gone.png)\n"""\nx = 1\n', 2),
])
def test_a_bad_file_fails_the_build_and_leaves_the_last_good_site_untouched(built, name, content, line):
    before = digest_tree(built / 'html')
    write_tree(built, {name: content, 'pkg/alpha.py': (built / 'pkg/alpha.py').read_text() + 'y = 2\n'})
    with pytest.raises(BuildError) as error:
        build(built, SOURCES, built / 'html')
    assert re.match(rf'{name}:{line}: ', str(error.value))
    assert digest_tree(built / 'html') == before


def test_every_error_of_every_file_is_reported_together_at_its_line(built):
    write_tree(built, {'pkg/one.py': 'def (:\n',
                       'pkg/two.py': '"""\n![a](a.png)\n\n$x\n\n![b](b.png)\n"""\nx = 1\n# $\\href{https://x.example}{y}$\ny = 2\n'})
    with pytest.raises(BuildError) as error:
        build(built, SOURCES, built / 'html')
    assert [(e.path, e.line) for e in error.value.errors] == [
        ('pkg/one.py', 1), ('pkg/two.py', 2), ('pkg/two.py', 4), ('pkg/two.py', 6), ('pkg/two.py', 9)]


def test_keep_going_builds_every_good_page_and_reports_the_bad_ones(built):
    write_tree(built, {'pkg/one.py': 'def (:\n', 'pkg/beta.py': '"""\n$open\n"""\nx = 1\n'})
    report = build(built, SOURCES, built / 'html', keep_going=True)
    assert [str(e)[:15] for e in report.errors] == ['pkg/beta.py:2: ', 'pkg/one.py:1: s']
    pages = sorted(p for p in digest_tree(built / 'html') if p.endswith('.html'))
    assert pages == ['index.html', 'pkg/alpha.html', 'pkg/index.html', 'pkg/sub/gamma.html', 'pkg/sub/index.html']
    assert 'beta.html' not in read(built, 'pkg/alpha.html')


def test_empty_files_are_skipped_with_a_note_and_comment_only_files_are_pages(built):
    write_tree(built, {'pkg/sub/__init__.py': '', 'pkg/blank.py': '\n  \n', 'pkg/notes.py': '# # Notes\n#\n# Prose only.\n'})
    report = build(built, SOURCES, built / 'html')
    assert report.notes == ['pkg/blank.py: skipped: empty file, so no page',
                            'pkg/sub/__init__.py: skipped: empty file, so no page; the folder gets a generated index page']
    assert 'Prose only.' in read(built, 'pkg/notes.html')
    assert '<h1 id="sub">sub</h1>' in read(built, 'pkg/sub/index.html')


def test_unknown_front_matter_key_is_a_warning_and_the_page_is_built(built):
    write_tree(built, {'pkg/new.py': '"""\n---\ntitle: T\nsummary: S\nredirect: x\n---\n"""\nx = 1\n'})
    report = build(built, SOURCES, built / 'html')
    assert report.warnings == ["pkg/new.py:5: unknown front-matter key 'redirect' ignored (known: title, summary)"]
    assert (built / 'html/pkg/new.html').is_file()


def test_named_files_that_are_neither_python_nor_markdown_are_skipped_with_a_note(built):
    write_tree(built, {'setup.cfg': '[x]\n'})
    report = build(built, SOURCES + ['setup.cfg', 'pkg/sub/results/plot.svg'], built / 'html')
    assert report.notes == ['pkg/sub/results/plot.svg: skipped: neither Python nor Markdown',
                            'setup.cfg: skipped: neither Python nor Markdown']


def test_two_sources_for_one_page_is_an_error_not_an_overwrite(built):
    write_tree(built, {'pkg/README.md': '# Also the index\n'})
    with pytest.raises(BuildError, match=r'pkg/__init__.py:1: pkg/README.md and pkg/__init__.py would both be written to pkg/index.html'):
        build(built, SOURCES + ['pkg/README.md'], built / 'html')


# ## check

def test_check_passes_on_a_fresh_build(built):
    assert check(built, SOURCES, built / 'html') == []


def test_check_reports_stale_pages_when_a_source_changes_after_the_build(built):
    (built / 'pkg/beta.py').write_text((built / 'pkg/beta.py').read_text() + 'z = 9\n')
    problems = check(built, SOURCES, built / 'html')
    assert 'html/pkg/beta.html: stale; run `make html`' in problems


def test_check_reports_broken_links_and_missing_anchors(tmp_path):
    write_tree(tmp_path, {'p/a.py': '"""\n[gone](gone.html) and [no anchor](b.html#nope)\n"""\nx = 1\n',
                          'p/b.py': 'x = 1\n'})
    build(tmp_path, ['p'], tmp_path / 'out')
    problems = check(tmp_path, ['p'], tmp_path / 'out')
    assert "p/a.html: broken link 'gone.html': no file gone.html" in problems
    assert "p/a.html: broken link 'b.html#nope': no id 'nope' in b.html" in problems


def test_check_reports_an_id_used_twice(tmp_path):
    write_tree(tmp_path, {'p/a.py': '"""\n<a id="alpha"></a>\n\n# Alpha\n"""\nx = 1\n'})
    build(tmp_path, ['p'], tmp_path / 'out')
    assert "p/a.html: id 'alpha' is used twice, so links to it are ambiguous" in check(tmp_path, ['p'], tmp_path / 'out')


def test_check_reports_unbalanced_math_and_foreign_scripts_in_the_html(built):
    page = built / 'html/pkg/alpha.html'
    page.write_text(page.read_text().replace('<span class="tex" aria-hidden="true">$\\alpha_t$</span>',
                                             '<span class="tex" aria-hidden="true">$\\alpha_{t$</span>')
                    .replace('</body>', '<script>alert(1)</script></body>'))
    problems = check(built, SOURCES, built / 'html')
    assert any(p.startswith('pkg/alpha.html: unclosed { in math') for p in problems)
    assert "pkg/alpha.html: script '(inline)' is not one of the site's assets" in problems


def test_check_reports_math_left_untypeset_a_mathjax_error_and_markup_mathjax_does_not_make(built):
    page = built / 'html/pkg/alpha.html'
    text = page.read_text()
    formula = re.search(r'<span class="math"><mjx-container .*?</mjx-container>', text, re.S).group()
    page.write_text(text.replace(formula, formula.replace('<mjx-math ', '<mjx-math onclick="alert(1)" ', 1), 1)
                    + '<span class="math">$x$</span>'
                    + '<span class="math"><mjx-container class="MathJax" jax="CHTML"><mjx-merror data-mjx-error="Undefined '
                      'control sequence \\foo"></mjx-merror></mjx-container><span class="tex" aria-hidden="true">'
                      '$\\foo$</span></span>')
    problems = [p for p in check(built, SOURCES, built / 'html') if p.startswith('pkg/alpha.html: ')]
    assert 'pkg/alpha.html: 1 formula(s) not typeset; run `make html`' in problems
    assert "pkg/alpha.html: MathJax error in '$\\\\foo$': Undefined control sequence \\foo" in problems
    assert any('onclick="alert(1)" on <mjx-math>' in p for p in problems), problems


def test_committed_html_is_fresh_with_working_links_and_balanced_math():
    """CI runs `make test`, so this is where a stale `html/` fails CI. Fix: `make html` and commit html/."""
    problems = check(REPO, out=REPO / 'html')
    assert problems == [], '\n'.join(problems[:30])


# ## The command line

def run(*args, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, '-m', 'site_gen', *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_help_explains_the_three_commands_to_a_newcomer():
    result = run('--help')
    assert result.returncode == 0
    for text in ('build', 'serve', 'check', 'html/', 'file:line', 'nothing in OUT is changed'):
        assert text in result.stdout


def test_cli_build_reports_errors_as_file_line_and_exits_nonzero(built):
    (built / 'pkg/beta.py').write_text('"""\n$$ open\n"""\nx = 1\n')
    result = run('build', 'pkg', 'README.md', '--out', 'html', cwd=built)
    assert result.returncode == 1
    assert 'site_gen: pkg/beta.py:2: unclosed $$' in result.stderr and 'html/ was not changed' in result.stderr


def test_cli_check_exits_nonzero_on_a_stale_site(built):
    assert run('check', 'pkg', 'README.md', cwd=built).returncode == 0
    (built / 'pkg/beta.py').write_text((built / 'pkg/beta.py').read_text() + 'z = 9\n')
    result = run('check', 'pkg', 'README.md', cwd=built)
    assert result.returncode == 1 and 'stale' in result.stderr


# ## The output folder is the only place a build writes
#
# `html/manifest.json` is committed, so a pull request can change it. Whatever it says, a build
# writes and removes only inside the output folder.

def tamper(site, change):
    path = site / 'html/manifest.json'
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def outside_files(site):
    """Files around the site that a build must never touch, with their contents."""
    victim = site.parent / 'victim.txt'
    victim.write_text('keep me')
    write_tree(site, {'Makefile': 'keep me too\n'})
    return {victim: 'keep me', site / 'Makefile': 'keep me too\n'}


@pytest.mark.parametrize('entry', ['../Makefile', '../../victim.txt', '/etc/hostname', 'pkg/../../Makefile',
                                   './../Makefile', 'pkg//../../Makefile', '..\\\\Makefile', ''])
def test_a_tampered_manifest_cannot_make_a_build_remove_files_outside_the_output_folder(built, entry):
    kept = outside_files(built)
    tamper(built, lambda m: m['files'].update({entry: None}))
    build(built, SOURCES, built / 'html')
    assert {path: path.read_text() for path in kept} == kept


def test_a_tampered_manifest_cannot_make_a_build_copy_or_write_files_outside_the_output_folder(built):
    kept = outside_files(built)
    secret = built.parent / 'secret.txt'
    secret.write_text('private')

    def change(manifest):
        for meta in manifest['pages'].values():
            meta['images'] = meta.get('images', []) + ['../secret.txt', '../../victim.txt']
            meta['deps'] = dict(meta.get('deps', {}), **{'../secret.txt': 'x'})
    tamper(built, change)
    build(built, SOURCES, built / 'html')
    assert {path: path.read_text() for path in kept} == kept
    assert not any('private' in p.read_text(errors='replace') for p in (built / 'html').rglob('*') if p.is_file())
    assert check(built, SOURCES, built / 'html') == []


def test_a_symbolic_link_inside_the_output_folder_does_not_lead_a_build_out_of_it(built, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'beta.html').write_text('not ours')
    page_folder = built / 'html/pkg'
    for path in sorted(page_folder.rglob('*'), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    page_folder.rmdir()
    page_folder.symlink_to(elsewhere)
    with pytest.raises(BuildError, match='refusing to write or remove'):
        build(built, SOURCES, built / 'html')
    assert [p.name for p in elsewhere.iterdir()] == ['beta.html'] and (elsewhere / 'beta.html').read_text() == 'not ours'


@pytest.mark.parametrize('manifest', ['not json', '[]', '{"files": "abc", "pages": []}',
                                      '{"files": [1, null], "pages": {"../x.html": {"hash": "h"}}}'])
def test_a_malformed_manifest_only_costs_a_full_rebuild(built, manifest):
    (built / 'html/manifest.json').write_text(manifest)
    report = build(built, SOURCES, built / 'html')
    assert len(report.rendered) == 6
    assert check(built, SOURCES, built / 'html') == []


# ## A killed build leaves nothing behind that the next build does not clean up

def test_temporary_files_of_a_killed_build_are_removed_by_the_next_build(built):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    stale = [built / f'html/.index.html.{dead.stdout.strip()}.tmp', built / f'html/pkg/.beta.html.{dead.stdout.strip()}.tmp']
    for path in stale:
        path.write_text('half a page')
    assert any('not produced by the sources' in p for p in check(built, SOURCES, built / 'html'))
    build(built, SOURCES, built / 'html')
    assert not any(path.exists() for path in stale)
    assert check(built, SOURCES, built / 'html') == []


def test_a_temporary_file_of_a_build_still_running_is_left_alone(built):
    alive = built / f'html/.index.html.{os.getppid()}.tmp'
    alive.write_text('being written')
    build(built, SOURCES, built / 'html')
    assert alive.exists()


def test_files_written_by_a_build_killed_before_its_manifest_are_removed_once_their_source_is_gone(built, monkeypatch):
    write_tree(built, {'pkg/new.py': '"""\n---\ntitle: New\nsummary: S\n---\n"""\nx = 1\n'})
    replace, calls = os.replace, []

    def killed_after_the_new_page(source, target):
        replace(source, target)
        calls.append(target)
        if str(target).endswith('pkg/new.html'):
            raise KeyboardInterrupt('killed')
    monkeypatch.setattr(os, 'replace', killed_after_the_new_page)
    with pytest.raises(KeyboardInterrupt):
        build(built, SOURCES, built / 'html')
    monkeypatch.setattr(os, 'replace', replace)
    assert (built / 'html/pkg/new.html').is_file()
    (built / 'pkg/new.py').unlink()
    build(built, SOURCES, built / 'html')
    assert not (built / 'html/pkg/new.html').exists()
    assert check(built, SOURCES, built / 'html') == []


# ## Any tree, from anywhere: configuration and command line

def test_configuration_names_the_site_sets_canonical_and_view_source_links_and_excludes(small_site):
    write_tree(small_site, {'pyproject.toml': '[project]\nname = "small"\n\n[tool.site_gen]\nname = "Small docs"\n'
                                              'base_url = "https://docs.example.org/small/"\n'
                                              'repository = "https://git.example.org/me/small"\nbranch = "dev"\n'
                                              'sources = ["pkg", "README.md"]\nexclude = ["pkg/beta.py", "pkg/sub/*"]\n'})
    build(small_site, None, small_site / 'html')
    pages = sorted(p for p in digest_tree(small_site / 'html') if p.endswith('.html'))
    assert pages == ['index.html', 'pkg/alpha.html', 'pkg/index.html']
    alpha = read(small_site, 'pkg/alpha.html')
    assert '<title>Alpha · Small docs</title>' in alpha and 'data-site="Small docs"' in alpha
    assert '<link rel="canonical" href="https://docs.example.org/small/pkg/alpha.html">' in alpha
    assert 'class="source-link" href="https://git.example.org/me/small/blob/dev/pkg/alpha.py"' in alpha
    # One link per section with code, to its first line: `import math`, `def alpha(x):`, `return ...`.
    lines = re.findall(r'class="view-source" href="https://git.example.org/me/small/blob/dev/pkg/alpha.py#L(\d+)"', alpha)
    source = (small_site / 'pkg/alpha.py').read_text().split('\n')
    assert [source[int(n) - 1].strip() for n in lines] == ['import math', 'def alpha(x):', 'return math.sqrt(x)']
    assert check(small_site, None, small_site / 'html') == []


def shown_and_linked_lines(page: str, source_url: str):
    """For each section with code: the lines its "source" link names, and the numbers and text of the lines it shows."""
    found = []
    for section in re.findall(r'<section class="section".*?</section>', page, re.S):
        rows = re.findall(r'<span class="line" id="L(\d+)"><a class="ln" href="#L\d+">\d+</a>(.*?)</span>'
                          r'(?=<span class="line"|</code>)', section, re.S)
        if rows:
            link = re.search(re.escape(source_url) + r'#L(\d+)(?:-L(\d+))?"', section)
            linked = (int(link.group(1)), int(link.group(2) or link.group(1))) if link else None
            found.append((linked, [(int(n), html.unescape(re.sub(r'<[^>]+>', '', text))) for n, text in rows]))
    return found


def test_cli_takes_every_key_of_the_configuration_from_the_project_folder_or_from_elsewhere(small_site, tmp_path):
    """`site-gen build` as a user runs it, with every key of [tool.site_gen] set; then with a folder named from elsewhere,
    which is its own root: the excludes and the repository paths stay relative to the pyproject.toml."""
    write_tree(small_site, {'pyproject.toml': '[project]\nname = "small"\n\n[tool.site_gen]\nname = "Small docs"\n'
                                              'base_url = "https://docs.example.org/small/"\n'
                                              'repository = "https://git.example.org/me/small"\nbranch = "dev"\n'
                                              'sources = ["pkg", "README.md"]\nexclude = ["pkg/beta.py"]\n'
                                              'remote_images = true\n',
                            'pkg/alpha.py': SMALL_SITE['pkg/alpha.py'].replace(
                                'Uses $', '![remote](https://images.example.org/a.png) Uses $')})
    result = run('build', '--out', 'html', cwd=small_site)
    assert result.returncode == 0, result.stderr
    elsewhere = run('build', str(small_site / 'pkg'), '--out', str(tmp_path / 'site'), cwd=tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stderr
    source = (small_site / 'pkg/alpha.py').read_text().split('\n')
    for out, alpha, page_path in ((small_site / 'html', 'pkg/alpha.html', 'pkg/alpha.html'),
                                  (tmp_path / 'site', 'alpha.html', 'alpha.html')):
        pages = sorted(p for p in digest_tree(out) if p.endswith('.html'))
        assert 'pkg/beta.html' not in pages and 'beta.html' not in pages and alpha in pages
        page = (out / alpha).read_text()
        assert '<title>Alpha · Small docs</title>' in page
        assert f'<link rel="canonical" href="https://docs.example.org/small/{page_path}">' in page
        assert '<img loading="lazy" alt="remote" src="https://images.example.org/a.png"' in page
        url = 'https://git.example.org/me/small/blob/dev/pkg/alpha.py'
        assert f'class="source-link" href="{url}"' in page
        sections = shown_and_linked_lines(page, url)
        assert len(sections) == 3
        for linked, rows in sections:
            assert linked == (rows[0][0], rows[-1][0]), 'the link names the first and last line the section shows'
            assert [text for _, text in rows] == [source[n - 1] for n, _ in rows], 'each shown line is that line'


def test_view_source_links_name_a_range_of_lines_when_a_section_has_several():
    config = Config(repository='https://git.example.org/me/small/', branch='dev')
    assert config.source_url('pkg/a.py', 3, 7) == 'https://git.example.org/me/small/blob/dev/pkg/a.py#L3-L7'
    assert config.source_url('pkg/a.py', 3, 3) == 'https://git.example.org/me/small/blob/dev/pkg/a.py#L3'
    assert Config().source_url('pkg/a.py', 3, 7) is None and Config().canonical('a.html') is None


@pytest.mark.parametrize('table, line, message', [
    ('nmae = "x"\n', 3, "unknown key 'nmae' in [tool.site_gen]"),
    ('exclude = "x"\n', 3, 'exclude must be a list of strings'),
    ('base_url = "http://x.example/"\n', 3, 'base_url must start with https://'),
    ('repository = "javascript:alert(1)"\n', 3, 'repository must start with https://'),
    ('branch = \n', 3, 'cannot read it as TOML'),
])
def test_a_bad_configuration_is_an_error_at_its_line(small_site, table, line, message):
    write_tree(small_site, {'pyproject.toml': f'[tool.site_gen]\nname = "x"\n{table}'})
    with pytest.raises(SiteError) as error:
        build(small_site, SOURCES, small_site / 'html')
    assert str(error.value).startswith(f'{small_site / "pyproject.toml"}:{line}: ') and message in str(error.value)


def test_console_script_site_gen_is_declared_and_is_the_same_main():
    project = tomllib.loads((REPO / 'pyproject.toml').read_text())
    module, _, function = project['project']['scripts']['site-gen'].partition(':')
    assert getattr(importlib.import_module(module), function) is main
    assert 'nh3' in project['project']['dependencies']
    assert re.search(r'^nh3==', (REPO / 'constraints.txt').read_text(), re.M)
    assert project['tool']['site_gen']['sources'] == ['labml_opt', 'README.md']


def test_cli_builds_from_an_absolute_path_from_elsewhere(small_site, tmp_path):
    out = tmp_path / 'site'
    result = run('build', str(small_site / 'pkg'), str(small_site / 'README.md'), '--out', str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / 'pkg/sub/gamma.html').is_file() and (out / 'index.html').is_file()


def test_cli_builds_from_a_dotdot_path_with_a_root(small_site):
    elsewhere = small_site.parent / 'work'
    elsewhere.mkdir()
    result = run('build', '../src/pkg/sub', '--root', '../src', '--out', 'out', cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / 'out/pkg/sub/gamma.html').is_file()
    alone = run('build', '../src/pkg/sub', '--out', 'alone', cwd=elsewhere)
    assert alone.returncode == 0 and (elsewhere / 'alone/gamma.html').is_file(), 'a folder named alone is its own root'


def test_cli_names_a_source_outside_the_root_instead_of_a_traceback(small_site):
    result = run('build', 'pkg', '--root', 'pkg/sub', '--out', 'out', cwd=small_site)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert f'outside the root {small_site / "pkg/sub"}' in result.stderr


def test_cli_keep_going_builds_the_good_pages_and_still_fails(built):
    (built / 'pkg/beta.py').write_text('"""\n$$ open\n"""\nx = 1\n')
    result = run('build', 'pkg', 'README.md', '--out', 'html', '--keep-going', cwd=built)
    assert result.returncode == 1
    assert 'site_gen: pkg/beta.py:2: unclosed $$' in result.stderr and 'their pages were left out' in result.stderr
    assert not (built / 'html/pkg/beta.html').exists() and (built / 'html/pkg/alpha.html').is_file()


def test_cli_without_sources_builds_what_the_configuration_names(small_site):
    write_tree(small_site, {'pyproject.toml': '[tool.site_gen]\nsources = ["pkg/sub"]\n'})
    result = run('build', '--out', 'out', cwd=small_site / 'pkg')
    assert result.returncode == 0, result.stderr
    assert sorted(p for p in digest_tree(small_site / 'pkg/out') if p.endswith('.html')) == [
        'index.html', 'pkg/index.html', 'pkg/sub/gamma.html', 'pkg/sub/index.html']


@pytest.mark.parametrize('path', ['../x', '/etc/passwd', 'a/../../x', 'a\\..\\x', '', 'C:/x', 'a//b', './a'])
def test_the_write_gate_refuses_any_path_that_is_not_plainly_inside(tmp_path, path):
    with pytest.raises(BuildError, match='refusing to write or remove'):
        inside(tmp_path / 'out', path)


def test_manifest_entries_with_paths_that_leave_the_folder_are_dropped_when_read(tmp_path):
    (tmp_path / 'manifest.json').write_text(json.dumps({
        'generator': 'g', 'files': ['a.html', '../b', '/c', 'd/../../e', 3],
        'pages': {'a.html': {'hash': 'h', 'source': 'a.py', 'images': ['ok.png'], 'deps': {'ok.md': 'h'}},
                  'b.html': {'hash': 'h', 'source': 'b.py', 'images': ['../secret'], 'deps': {}},
                  'c.html': {'hash': 'h', 'source': '../c.py'},
                  'd.html': {'hash': 'h', 'source': 'd.py', 'deps': {'/etc/passwd': 'h'}}}}))
    manifest = load_manifest(tmp_path)
    assert manifest['files'] == {'a.html': None} and list(manifest['pages']) == ['a.html']


def test_symbolic_links_in_the_sources_cannot_bring_files_from_outside_the_tree_into_the_site(small_site, tmp_path):
    secret = tmp_path / 'id_rsa'
    secret.write_text('PRIVATE KEY')
    for name in ('pkg/key.png', 'pkg/key.md', 'pkg/leak.py'):
        (small_site / name).symlink_to(secret)
    write_tree(small_site, {'pkg/beta.py': '"""\n![k](key.png)\n\n[[include: key.md]]\n"""\nx = 1\n'})
    with pytest.raises(BuildError) as error:
        build(small_site, SOURCES, small_site / 'html')
    assert [str(e) for e in error.value.errors] == ['pkg/beta.py:2: image key.png leads outside the source tree',
                                                    'pkg/beta.py:4: include key.md points outside the source tree']
    write_tree(small_site, {'pkg/beta.py': 'x = 1\n'})
    report = build(small_site, SOURCES, small_site / 'html')
    assert report.notes == ['pkg/leak.py: skipped: a symbolic link that leads outside the root']
    assert not any('PRIVATE' in p.read_text(errors='replace') for p in (small_site / 'html').rglob('*') if p.is_file())


def test_a_tampered_manifest_cannot_copy_a_file_through_a_symbolic_link_as_a_cached_image(built, tmp_path):
    secret = tmp_path / 'id_rsa'
    secret.write_text('PRIVATE KEY')
    (built / 'pkg/key.png').symlink_to(secret)
    tamper(built, lambda m: m['pages']['pkg/beta.html'].update(images=['pkg/key.png'], key='changed'))
    assert build(built, SOURCES, built / 'html').rendered == ['pkg/beta.html'], 'the entry is not trusted as a cache'
    assert not any('PRIVATE' in p.read_text(errors='replace') for p in (built / 'html').rglob('*') if p.is_file())


def test_configured_sources_are_relative_to_the_pyproject_folder_whatever_the_root(small_site):
    write_tree(small_site, {'pyproject.toml': '[tool.site_gen]\nsources = ["pkg/sub"]\n'})
    build(small_site / 'pkg', None, small_site / 'out')
    assert sorted(p for p in digest_tree(small_site / 'out') if p.endswith('.html')) == [
        'index.html', 'sub/gamma.html', 'sub/index.html']


def test_a_tampered_manifest_cannot_make_a_build_keep_a_symbolic_link_out_of_the_output_folder(built, tmp_path):
    """Even with the hash of the file the link leads to, the asset is not reused as found: it is written, and refused."""
    outside = tmp_path / 'site.js'
    outside.write_text('not ours')
    asset = built / 'html/assets/site.js'
    asset.unlink()
    asset.symlink_to(outside)
    tamper(built, lambda m: m['files'].update({'assets/site.js': hashlib.sha256(b'not ours').hexdigest()}))
    with pytest.raises(BuildError, match='refusing to write or remove'):
        build(built, SOURCES, built / 'html')
    assert outside.read_text() == 'not ours'
