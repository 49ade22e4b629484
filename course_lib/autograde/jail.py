"""Drop into the student's jail, then exec the kernel.

Run as ``python -m course_lib.autograde.jail [options] -- CMD...`` by the sandbox worker as the
kernel's launch prefix. It imports nothing beyond the standard library because it sits on every
kernel's start-up path. Order matters: limits and ownership are set while still root, the uid
is dropped last, and ``PR_SET_NO_NEW_PRIVS`` keeps setuid binaries from regaining root.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import sys

PR_SET_NO_NEW_PRIVS = 38


def _parse(argv):
    p = argparse.ArgumentParser(prog="course_lib.autograde.jail")
    p.add_argument("--uid", type=int, default=None)
    p.add_argument("--gid", type=int, default=None)
    p.add_argument("--memory-mb", type=int, default=None)
    p.add_argument("--nproc", type=int, default=None)
    p.add_argument("--fsize-mb", type=int, default=None)
    p.add_argument("--cwd", default=None)
    p.add_argument("--chown", action="append", default=[], help="file to hand to the uid")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.cmd and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    if not args.cmd:
        raise ValueError("cmd: expected a command after '--'")
    return args


def _limit(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        # a hard limit already below ours: keep the stricter one
        pass


def _tasks_of(uid: int) -> int:
    """Threads and processes the uid runs now (what RLIMIT_NPROC counts)."""
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                n += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return n


def main(argv=None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.memory_mb:
        _limit(resource.RLIMIT_AS, args.memory_mb * 2**20)
    if args.fsize_mb:
        _limit(resource.RLIMIT_FSIZE, args.fsize_mb * 2**20)
    _limit(resource.RLIMIT_CORE, 0)
    dropping = os.geteuid() == 0 and args.uid is not None
    if args.nproc:
        # counts every task (thread or process) of the real uid: bounds a fork bomb. Root
        # ignores it, hence the uid drop below; a normal user already runs other tasks, so
        # the bound is theirs plus ours.
        _limit(resource.RLIMIT_NPROC,
               args.nproc if dropping else _tasks_of(os.getuid()) + args.nproc)
    if dropping:
        gid = args.gid if args.gid is not None else args.uid
        for path in args.chown:
            os.chown(path, args.uid, gid)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(args.uid)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if args.cwd:
        os.chdir(args.cwd)
    os.umask(0o077)
    os.execv(args.cmd[0], args.cmd)


if __name__ == "__main__":
    main()
