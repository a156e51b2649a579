"""
What every benchmark does with its Markdown table: write it to its file in `benchmarks/results/`
and, for the site, a copy to `labml_opt/results/`, which the pages include. Each file is written
to a temporary file beside it and renamed into place, so an interrupted run leaves the last
complete table, never half of one.
"""

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_RESULTS = ROOT / 'labml_opt' / 'results'


def write_atomically(path: Path, text: str):
    """Write `text` to `path`, all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def save_table(table: str, output: str, site_name: str, site_copy: bool = True):
    """`table` to `output`, and with `site_copy` to `labml_opt/results/<site_name>` as well."""
    write_atomically(Path(output), table)
    if site_copy:
        write_atomically(SITE_RESULTS / site_name, table)
