"""
Building: layout and navigation of pages, determinism, incremental and atomic builds,
the bad-input policy (the build fails and leaves the last good site untouched), `check`,
and the command line.
"""

import hashlib
import os
import re
import subprocess
import sys
import time

import pytest

from site_gen import BuildError
from site_gen.check import check
from site_gen.site import build
from tests.site_gen.conftest import REPO, write_tree

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


def test_page_has_title_description_canonical_breadcrumb_and_source_link(built):
    page = read(built, 'pkg/sub/gamma.html')
    assert '<title>Gamma · Small site</title>' in page
    assert '<meta name="description" content="Nested module.">' in page
    assert re.search(r'<link rel="canonical" href="https://[^"]+/pkg/sub/gamma.html">', page)
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


def test_images_are_copied_next_to_the_page_and_includes_inlined(built):
    assert (built / 'html/pkg/sub/results/plot.svg').read_bytes() == (built / 'pkg/sub/results/plot.svg').read_bytes()
    gamma = read(built, 'pkg/sub/gamma.html')
    assert 'src="results/plot.svg"' in gamma and '<table>' in gamma


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


def test_mathjax_is_local_with_its_fonts_and_licence_and_no_page_refers_to_a_cdn(built):
    files = digest_tree(built / 'html')
    assert 'assets/mathjax/tex-chtml-full.js' in files and 'assets/mathjax/LICENSE' in files
    assert any(f.startswith('assets/mathjax/output/chtml/fonts/woff-v2/') and f.endswith('.woff') for f in files)
    for page in (p for p in files if p.endswith('.html')):
        head = re.sub(r'<link rel="canonical"[^>]*>', '', read(built, page).split('<main>')[0])
        assert not re.search(r'(src|href)="(https?:)?//', head)


# ## Determinism, incremental and atomic builds

def test_same_input_gives_byte_identical_output_wherever_it_is_built(small_site, tmp_path):
    build(small_site, SOURCES, small_site / 'html')
    copy = write_tree(tmp_path / 'elsewhere', {})
    for path in small_site.rglob('*'):
        if path.is_file() and 'html' not in path.relative_to(small_site).parts:
            write_tree(copy, {path.relative_to(small_site).as_posix(): path.read_bytes()})
    build(copy, SOURCES, copy / 'html')
    assert digest_tree(small_site / 'html') == digest_tree(copy / 'html')


def test_unchanged_tree_renders_nothing_writes_nothing_and_takes_well_under_a_second(built):
    start = time.perf_counter()
    report = build(built, SOURCES, built / 'html')
    assert time.perf_counter() - start < 0.5
    assert (report.rendered, report.written, report.removed) == ([], [], [])


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
    ('pkg/new.py', '', 1),
    ('pkg/new.py', '# only\n# comments\n', 1),
    ('pkg/new.py', '"""\n---\ntitle: T\nsummary: S\nauthor: me\n---\n"""\nx = 1\n', 5),
])
def test_a_bad_file_fails_the_build_and_leaves_the_last_good_site_untouched(built, name, content, line):
    before = digest_tree(built / 'html')
    write_tree(built, {name: content, 'pkg/alpha.py': (built / 'pkg/alpha.py').read_text() + 'y = 2\n'})
    with pytest.raises(BuildError) as error:
        build(built, SOURCES, built / 'html')
    assert re.match(rf'{name}:{line}: ', str(error.value))
    assert digest_tree(built / 'html') == before


def test_all_bad_files_are_reported_together(built):
    write_tree(built, {'pkg/one.py': 'def (:\n', 'pkg/two.py': ''})
    with pytest.raises(BuildError) as error:
        build(built, SOURCES, built / 'html')
    assert [e.path for e in error.value.errors] == ['pkg/one.py', 'pkg/two.py']


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
    page.write_text(page.read_text().replace('<span class="math">$\\alpha_t$</span>', '<span class="math">$\\alpha_{t$</span>')
                    .replace('</body>', '<script>alert(1)</script></body>'))
    problems = check(built, SOURCES, built / 'html')
    assert any(p.startswith('pkg/alpha.html: unclosed { in math') for p in problems)
    assert "pkg/alpha.html: script '(inline)' is not one of the site's assets" in problems


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
