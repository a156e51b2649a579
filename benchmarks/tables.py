"""
What every benchmark does with its Markdown table: say when and with which command it was
measured, write it to its file in `benchmarks/results/`
and, for the site, a copy to `labml_opt/results/`, which the pages include. Each file is written
to a temporary file beside it and renamed into place, so an interrupted run leaves the last
complete table, never half of one.
"""

import datetime
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_RESULTS = ROOT / 'labml_opt' / 'results'


def measured(script: str) -> str:
    """The first words of a table: `Measured <date and time> UTC with `python benchmarks/<script> <its arguments>``."""
    command = ' '.join(['python', f'benchmarks/{script}', *sys.argv[1:]])
    return f'Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}`'


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
