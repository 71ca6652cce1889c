"""Download the UCI archive, extract the .xls, check its md5 (only when no DVC remote has it)."""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

import io
import zipfile

from concrete_study.data import DataError, read_raw
from concrete_study.download import fetch
from concrete_study.files import atomic_path, check_md5
from concrete_study.logs import log_to


def main(url: str, md5: str, out: str) -> None:
    print(f"downloading {url}")
    archive = zipfile.ZipFile(io.BytesIO(fetch(url, out)))
    names = [n for n in archive.namelist() if n.endswith("Concrete_Data.xls")]
    if not names:
        raise DataError(f"{url}: archive holds no Concrete_Data.xls")
    content = archive.read(names[0])
    digest = check_md5(content, md5, f"{url}: Concrete_Data.xls", "(config key 'data.md5')")
    with atomic_path(out) as tmp:
        tmp.write_bytes(content)
        read_raw(tmp)  # the content is the study's table, or nothing lands
    print(f"wrote {out} ({len(content)} bytes, md5 {digest})")


with log_to(snakemake.log[0]):
    main(snakemake.params.url, snakemake.params.md5, snakemake.output.raw)
