#!/usr/bin/env python3
"""Reproducible archives for scripts/dist.sh, the same on Linux, macOS and Windows.

    archive.py tar DIR OUT.tar.gz    DIR and everything under it, by sorted name
    archive.py zip DIR OUT.zip
    archive.py gz FILE OUT.gz

Every entry gets the time SOURCE_DATE_EPOCH (default 0), owner 0:0 and mode 0755 for
executables, 0644 for other files; gzip headers carry no name and no time. The same tree gives
the same bytes, whichever system's tar or zip would have been used.
"""
import gzip
import io
import os
import sys
import tarfile
import time
import zipfile

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def entries(root):
    """(path, name in the archive) for ROOT and everything under it, directories first, sorted."""
    base = os.path.dirname(os.path.abspath(root))
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        yield dirpath, os.path.relpath(dirpath, base).replace(os.sep, "/")
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            yield path, os.path.relpath(path, base).replace(os.sep, "/")


def executable(path):
    # Windows has no executable bit: what ends in .exe is executable there.
    return path.endswith(".exe") or (os.name != "nt" and os.access(path, os.X_OK))


def make_tar(root, out):
    with open(out, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, name in entries(root):
                info = tar.gettarinfo(path, arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = EPOCH
                if info.isdir():
                    info.mode = 0o755
                    tar.addfile(info)
                else:
                    info.mode = 0o755 if executable(path) else 0o644
                    with open(path, "rb") as f:
                        tar.addfile(info, f)


def make_zip(root, out):
    stamp = time.gmtime(max(EPOCH, 315532800))[:6]  # zip cannot say a time before 1980
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for path, name in entries(root):
            if os.path.isdir(path):
                continue
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if executable(path) else 0o100644) << 16
            with open(path, "rb") as f:
                z.writestr(info, f.read())


def make_gz(path, out):
    with open(path, "rb") as f, open(out, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
            gz.write(f.read())


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("tar", "zip", "gz"):
        sys.exit(__doc__)
    {"tar": make_tar, "zip": make_zip, "gz": make_gz}[sys.argv[1]](sys.argv[2], sys.argv[3])
