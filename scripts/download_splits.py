"""Download the benchmark's published splits and check each md5 (dataset.splits_md5), only when
no DVC remote has them.

Every file is fetched and checked before any is written: a failure leaves no partial set.
"""

from concrete_study.forkserver import delegate

delegate()  # where the workflow's server runs, the rest runs in a fork of it

from pathlib import Path

from concrete_study.download import fetch
from concrete_study.files import check_md5, write_bytes
from concrete_study.logs import log_to
from concrete_study.splits import read_md5s


def main(url: str, md5_files: list[str], outputs: list[str]) -> None:
    expected = read_md5s(md5_files[0]) if md5_files else {}
    contents = {}
    for out in outputs:
        name = Path(out).name
        source = url.format(name=name)
        print(f"downloading {source}")
        content = fetch(source, out)
        check_md5(content, expected.get(name), source, f"({md5_files[0] if md5_files else ''})")
        contents[out] = content
    for out, content in contents.items():
        write_bytes(out, content)
    print(f"wrote {len(contents)} split files")


with log_to(snakemake.log[0]):
    main(snakemake.params.url, list(snakemake.input.md5), list(snakemake.output))
