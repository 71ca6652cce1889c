"""Download the table (dataset.url: the file itself, or a .zip archive holding a file of its name),
check its md5 and the table (only when no DVC remote has it)."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import io
import zipfile
from pathlib import Path

from concrete_study.dataset import read_table
from concrete_study.download import fetch
from concrete_study.errors import DataError
from concrete_study.files import atomic_path, check_md5
from concrete_study.logs import log_to


def main(spec: dict, out: str) -> None:
    url, name = spec["url"], Path(out).name
    print(f"downloading {url}")
    content = fetch(url, out)
    if url.endswith(".zip"):
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = [n for n in archive.namelist() if Path(n).name == name]
        if not names:
            raise DataError(f"{url}: archive holds no {name}")
        content = archive.read(names[0])
    digest = check_md5(content, spec["md5"], f"{url}: {name}", "(config key 'dataset.md5')")
    with atomic_path(out) as tmp:
        tmp.write_bytes(content)
        read_table({**spec, "file": str(tmp)})  # the content is the study's table, or nothing lands
    print(f"wrote {out} ({len(content)} bytes, md5 {digest})")
    print(f"wrote {out} ({len(content)} bytes, md5 {digest})")


with log_to(snakemake.log[0]):
    main(snakemake.params.spec, snakemake.output.raw)
