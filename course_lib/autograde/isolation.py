"""The sandbox's filesystem and network: an allow-list root, built inside private namespaces.

The worker runs in fresh mount, network, PID and IPC namespaces (see :mod:`.zygote`). There it
builds a new root on an empty tmpfs and moves into it (``chroot``), so the student's kernel sees
only what is listed here:

=======================  ================================================================
path                     what
=======================  ================================================================
/usr /bin /lib* /etc     the system, read-only (merged-/usr symlinks copied as links)
/sys                     read-only (torch reads the CPU topology there)
interpreter, venv        the Python that runs the kernel and its packages, read-only, with
                         course_lib's own folder masked when it is installed in there
/dev                     null, zero, full, random, urandom; a private /dev/shm
/proc                    the PID namespace's own (the student's processes only)
/tmp, /var/tmp           private tmpfs (the student's folder and home live in /tmp)
/opt/rnn-course          the sandbox's small course_lib and the jail, read-only
=======================  ================================================================

Nothing else exists there: not the checkout (its ``.git`` holds the solutions' history), not
the course folder, the gradebook, other students, ``/root``, ``/run`` or ``/work``. The root
itself is remounted read-only, so the only writable places are the two tmpfs.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
DEVICES = ("null", "zero", "full", "random", "urandom")
#: where the sandbox's own files live inside the new root
OPT = "/opt/rnn-course"


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    rc = _libc().mount(source.encode(), target.encode(),
                       fstype.encode() if fstype else None, flags,
                       data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or source} on {target}: {os.strerror(err)}")


def loopback_up() -> None:
    """Bring ``lo`` up (a fresh network namespace starts with it down)."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def only_loopback() -> bool:
    """True when the only network interface is the loopback one."""
    try:
        names = [n for _, n in socket.if_nameindex()]
    except OSError:
        return False
    return names == ["lo"]


def _bind_readonly(src: str, dest: str) -> None:
    if os.path.isdir(src):
        os.makedirs(dest, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        open(dest, "a").close()
    mount(src, dest, None, MS_BIND | MS_REC, None)
    mount("none", dest, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, None)


def _place(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _system(root: str) -> list:
    done = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            os.symlink(os.readlink(path), _place(root, path))
        elif os.path.isdir(path):
            _bind_readonly(path, _place(root, path))
            done.append(path)
    return done


def _devices(root: str) -> None:
    dev = _place(root, "/dev")
    os.makedirs(dev, exist_ok=True)
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            open(os.path.join(dev, name), "a").close()
            mount(f"/dev/{name}", os.path.join(dev, name), None, MS_BIND, None)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))
    os.makedirs(os.path.join(dev, "shm"))
    mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")


def _write_opt(root: str, lib_files: dict, jail_source: str) -> None:
    lib = _place(root, OPT + "/lib")
    for rel, text in lib_files.items():
        dest = os.path.join(lib, rel)
        os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
        with open(dest, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(dest, 0o644)
    jail = _place(root, OPT + "/jail.py")
    with open(jail, "w", encoding="utf-8") as fh:
        fh.write(jail_source)
    os.chmod(jail, 0o700)  # root runs it before dropping to the student's uid


def build_root(root: str, needed: list, masked: list, tmp_mb: int, lib_files: dict,
               jail_source: str) -> list:
    """Build the allow-list root in the empty folder ``root`` and ``chroot`` into it.

    Parameters
    ----------
    root : str
        An empty folder (the job folder's ``root/``); a tmpfs is mounted on it.
    needed : list of str
        Folders bound read-only at their own paths (the interpreter, its environment).
    masked : list of str
        Folders inside ``needed`` covered with an empty tmpfs (course_lib when installed there).
    tmp_mb : int
        Size of the private /tmp.
    lib_files, jail_source : dict, str
        The sandbox's course_lib (relative path -> source) and the jail's source.

    Returns the list of what is in force; raises OSError when a mount fails.
    """
    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    system = _system(root)
    done = [f"ro:{p}" for p in system]
    # the private /tmp goes in before the environment: a venv that lives under /tmp (a
    # checkout cloned there) is bound on top of it, not hidden beneath it
    for path, size in (("/tmp", tmp_mb), ("/var/tmp", 16)):
        os.makedirs(_place(root, path), exist_ok=True)
        mount("tmpfs", _place(root, path), "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={size}m,mode=1777")
    for path in sorted(set(needed)):
        inside = any(path == d or path.startswith(d + "/") for d in system + done)
        if os.path.isdir(path) and not inside:
            _bind_readonly(path, _place(root, path))
            done.append(path)
    done = [d if d.startswith("ro:") else f"ro:{d}" for d in done]
    for path in masked:
        if os.path.isdir(_place(root, path)):
            mount("tmpfs", _place(root, path), "tmpfs", MS_NOSUID | MS_NODEV,
                  "size=16k,mode=0755")
            done.append(f"masked:{path}")
    _devices(root)
    os.makedirs(_place(root, "/proc"))
    mount("proc", _place(root, "/proc"), "proc", MS_NOSUID | MS_NODEV, None)
    _write_opt(root, lib_files, jail_source)
    mount("none", root, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    os.chroot(root)
    os.chdir("/")
    return done + ["allow-list root (chroot)", "read-only root"]
