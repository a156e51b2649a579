"""The benchmarks' table writer: both copies written, and an interrupted write leaves the last table whole."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'benchmarks'))

import tables  # noqa: E402


def test_a_table_goes_to_its_file_and_to_the_site(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, 'SITE_RESULTS', tmp_path / 'site')
    tables.save_table('| a |\n', str(tmp_path / 'results' / 'step.md'), 'step.md')
    assert (tmp_path / 'results' / 'step.md').read_text() == '| a |\n'
    assert (tmp_path / 'site' / 'step.md').read_text() == '| a |\n'
    tables.save_table('| b |\n', str(tmp_path / 'results' / 'step.md'), 'step.md', site_copy=False)
    assert (tmp_path / 'site' / 'step.md').read_text() == '| a |\n'


def test_an_interrupted_write_keeps_the_last_table_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / 'step.md'
    tables.write_atomically(path, '| complete |\n')

    def interrupted(source, destination):
        """Ctrl-C after the new table is written, before it takes the old one's place."""
        raise KeyboardInterrupt

    monkeypatch.setattr(tables.os, 'replace', interrupted)
    with pytest.raises(KeyboardInterrupt):
        tables.write_atomically(path, '| new |\n')
    assert path.read_text() == '| complete |\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['step.md']


def test_a_table_names_the_command_that_measured_it_exactly(monkeypatch):
    monkeypatch.setattr(tables.sys, 'argv', ['first_step.py'])
    assert re.fullmatch(r'Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC with `python benchmarks/first_step\.py`',
                        tables.measured('first_step.py'))
    monkeypatch.setattr(tables.sys, 'argv', ['optimizer_step.py', '--skip', 'as written,labml_nn'])
    assert tables.measured('optimizer_step.py').endswith('with `python benchmarks/optimizer_step.py --skip as written,labml_nn`')
