"""The process a hybrid job's uploaded code runs in, started by ``job_code`` as

    python -I -u -B <this file> '<json settings>'

It imports nothing of qwidgets (``-I``: neither the script's directory nor PYTHON* variables
count), locks itself in, then runs the entry point as the Braket container does:
``module:function`` imports the module and calls ``function()``; ``module`` runs it as
``__main__``. Hyperparameters and paths reach the code through ``AMZN_BRAKET_*`` variables.

Locking in, before any user code runs (every step is inherited by the processes it starts):

- ``PR_SET_PDEATHSIG``: the job dies with the server thread that started it.
- rlimits: address space (the memory cap), file size, no core dumps, open files.
- Landlock (Linux >= 5.13, unprivileged): files are readable only under the Python
  installation, the system's library and binary directories and a few named files; writable
  only in the job's own working directory. The server's data directory (every namespace's
  objects, the SQLite store, the token file) is outside both. A Landlock domain also cannot
  ptrace, nor read ``/proc/<pid>/environ`` or ``mem`` of, the unsandboxed server. Where the
  kernel supports it: TCP connect only to the server's port, no TCP bind, no signals to and no
  abstract unix sockets of processes outside the sandbox.

Without Landlock the job refuses to start (exit code ``SANDBOX_UNAVAILABLE``): the server runs
uploaded code only inside it.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import runpy
import signal
import sys
import traceback
from typing import Any

SANDBOX_UNAVAILABLE = 70

# linux/landlock.h; the syscall numbers are the same on every architecture (asm-generic)
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_FS = {"execute": 1 << 0, "write_file": 1 << 1, "read_file": 1 << 2, "read_dir": 1 << 3,
       "remove_dir": 1 << 4, "remove_file": 1 << 5, "make_char": 1 << 6, "make_dir": 1 << 7,
       "make_reg": 1 << 8, "make_sock": 1 << 9, "make_fifo": 1 << 10, "make_block": 1 << 11,
       "make_sym": 1 << 12, "refer": 1 << 13, "truncate": 1 << 14, "ioctl_dev": 1 << 15}
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
              5: (1 << 16) - 1}
_FILE_ONLY = _FS["execute"] | _FS["write_file"] | _FS["read_file"] | _FS["truncate"] \
    | _FS["ioctl_dev"]
_READ = _FS["read_file"] | _FS["read_dir"] | _FS["execute"]
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class SandboxError(RuntimeError):
    pass


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 if it has none (or this is not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    version = int(_libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0),
                                  ctypes.c_uint32(_CREATE_RULESET_VERSION)))
    return max(version, 0)


def _fail(what: str) -> SandboxError:
    errno = ctypes.get_errno()
    return SandboxError(f"{what}: {os.strerror(errno)}")


def lock_in(settings: dict[str, Any]) -> list[str]:
    """Apply the limits and the Landlock domain to this process; return the notes on what the
    kernel could not enforce."""
    libc = _libc()
    notes: list[str] = []
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != settings["parent_pid"]:  # the server went away before the line above
        raise SandboxError("the server that started this job has stopped")
    memory = int(settings["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = int(settings["file_bytes"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    files = int(settings["open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    abi = landlock_abi()
    if abi < 1:
        raise SandboxError("this kernel has no Landlock (Linux 5.13 or later with Landlock "
                           "enabled is needed to run uploaded job code)")
    fs = _FS_BY_ABI.get(abi, _FS_BY_ABI[5])
    attr = _RulesetAttr(fs, 0, 0)
    size_attr = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size_attr = 16
    else:
        notes.append("network: unrestricted (Landlock ABI < 4)")
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size_attr = 24
    else:
        notes.append("signals to other processes: unrestricted (Landlock ABI < 6)")
    ruleset = int(libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size_attr),
                               ctypes.c_uint32(0)))
    if ruleset < 0:
        raise _fail("landlock_create_ruleset")
    try:
        for path in settings["read_paths"]:
            _allow(libc, ruleset, path, _READ & fs)
        for path in settings["write_paths"]:
            _allow(libc, ruleset, path, fs)
        own = f"/proc/{os.getpid()}"
        _allow(libc, ruleset, own, _FS["read_file"] | _FS["read_dir"])
        if abi >= 4:
            port = _NetPortAttr(_NET_CONNECT_TCP, int(settings["port"]))
            if libc.syscall(_ADD_RULE, ruleset, _RULE_NET_PORT, ctypes.byref(port), 0) != 0:
                raise _fail("landlock_add_rule (port)")
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise _fail("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return notes


def _allow(libc: Any, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this machine does not have
    try:
        if not os.path.isdir(path):
            access &= _FILE_ONLY
        rule = _PathBeneathAttr(access, fd)
        if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise _fail(f"landlock_add_rule ({path})")
    finally:
        os.close(fd)


def run_entry_point(entry_point: str, code_dir: str) -> None:
    """What the Braket container does with ``AMZN_BRAKET_SCRIPT_ENTRY_POINT``."""
    sys.path.insert(0, code_dir)
    module, _, function = entry_point.partition(":")
    sys.argv = [module]
    if function:
        target = getattr(__import__(module, fromlist=[function]), function)
        target()
    else:
        runpy.run_module(module, run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> int:
    settings = json.loads(argv[1])
    try:
        notes = lock_in(settings)
    except (SandboxError, OSError, ValueError) as exc:
        print(f"qwidgets: the job's sandbox could not be set up, so its code did not run: {exc}",
              flush=True)
        return SANDBOX_UNAVAILABLE
    for note in notes:
        print(f"qwidgets: sandbox note: {note}", flush=True)
    os.chdir(settings["code_dir"])
    try:
        run_entry_point(settings["entry_point"], settings["code_dir"])
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr, flush=True)
        return 1
    except BaseException:  # the job's own error: its traceback is the end of its log
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
