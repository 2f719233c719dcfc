#!/usr/bin/env python3
"""Drops the page cache of what a benchmarked process maps, so both sides of a comparison start
cold (Linux; elsewhere it does nothing).

    Scripts/cold-cache.py PATH [PATH ...]

A file is dropped with posix_fadvise(DONTNEED), an ELF executable or library with the shared
libraries `ldd` lists for it, a directory with every file under it. Why: a process's peak RSS
(VmHWM) counts the file pages it maps, and how many the kernel maps per fault (fault-around)
depends on whether the file is already cached. A binary just built or just run is fully
cached and shows about 1.5 MiB more RSS than the same binary read cold (docs/BENCHMARKS.md,
session 17), so bench-ws.sh drops swift-arcp's binaries and the Python interpreter, its
libraries and its packages alike before each side runs.
"""
import os
import subprocess
import sys


def libraries(path):
    """The shared libraries ldd resolves for an ELF file (none for anything else)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return []
        out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            i = parts.index("=>")
            if i + 1 < len(parts) and parts[i + 1].startswith("/"):
                libs.append(parts[i + 1])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def drop(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return 1
    except OSError:
        return 0
    finally:
        os.close(fd)


def main(argv):
    if not hasattr(os, "posix_fadvise"):
        return 0
    seen, count = set(), 0
    for arg in argv:
        arg = os.path.realpath(arg)
        files = []
        if os.path.isdir(arg):
            for root, _, names in os.walk(arg):
                files += [os.path.join(root, n) for n in names]
        elif os.path.isfile(arg):
            files = [arg] + libraries(arg)
        for f in files:
            f = os.path.realpath(f)
            if f in seen or not os.path.isfile(f):
                continue
            seen.add(f)
            count += drop(f)
    print(f"cold-cache: dropped the page cache of {count} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
