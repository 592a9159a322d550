"""Run untrusted Python (model-written programs, SVG rendering) in a separate, limited process.

``run_python(code, stdin=..., limits=...)`` writes ``code`` to ``main.py`` in a fresh temporary
directory and runs it in a child process, returning a ``SandboxResult``. Layers, all available to
an unprivileged user on Linux (each kernel-dependent one detected at run time, never required):

1. **Process**: a new session (own process group, killed as a group with SIGKILL when the wall-clock
   ``timeout_s`` passes or output exceeds ``max_output_bytes``); cwd, ``HOME`` and ``TMPDIR`` are
   the temporary directory, deleted afterwards; the environment is replaced, not inherited
   (``-s -P`` and a fixed ``PYTHONHASHSEED``: ``python -I`` with the environment written rather than
   ignored, so that set order, and so the output, is the same on every run).
2. **Namespaces** (``unshare --user --net --pid --ipc --uts --mount-proc``): no network but a down
   loopback; a private PID namespace whose init is the program, so all it starts dies with it; its
   own System V IPC and hostname; and its own ``/proc`` (a new mount namespace), which lists no host
   process (where mounting it is refused, ``--mount-proc`` is dropped and layers 4-6 keep ``/proc``
   unreadable).
3. **rlimits** the child sets on itself: address space (``memory_mb``; also bounds threads, each
   reserving its stack), CPU seconds, file size, open files, no core dumps. ``RLIMIT_NPROC`` is left
   alone: it counts every process and thread of the uid system-wide, so any value either blocks
   nothing or also blocks threads (which competitive-programming solutions start for deep recursion).
4. **Landlock** (Linux 5.13+), applied by a first-stage interpreter that then execs the real one
   (so the program's interpreter never loads ``ctypes``): the kernel lets the process read only
   beneath the temporary directory, the standard library's modules and lib-dynload's extension
   modules but ``_UNLOADABLE`` (``_ctypes``, CPython's test and subinterpreter modules: not loadable
   even by a program that gets past the audit hook), the site-packages with ``site_packages``, the
   folders of the shared libraries the interpreter maps, fonts, time zones and ``/dev/null``,
   ``/dev/(u)random`` (``_read_roots``; not the working directory, the user's data, ``/proc`` or
   ``/sys``); write, create, rename or delete only beneath the temporary directory (and write
   ``/dev/null``); execute no file but the Python binary; and, from Landlock ABI 4 and 6, neither
   bind/connect TCP nor signal processes outside itself.
5. **seccomp** (x86_64 and aarch64), installed by the same first stage: ``socket()`` (so no
   connection to a host's Unix sockets, which Landlock does not cover: Ray's object store, a
   container runtime), System V and POSIX message-queue IPC, kernel keyrings, ``io_uring``,
   ``ptrace``/``process_vm_*``, new namespaces, mounts, ``bpf``/``perf_event_open``/``userfaultfd``,
   ``setsid``/``setpgid`` (so nothing leaves the process group), new processes (``fork``, ``vfork``,
   ``clone`` without ``CLONE_THREAD``), ``memfd_create``/``execveat`` (running a binary from memory),
   ``inotify``/``fanotify`` (names in folders Landlock hides) and ``open_by_handle_at`` fail with
   EPERM, as do x32 syscalls; ``clone3`` fails with ENOSYS (threads fall back to ``clone``), as does
   any syscall of another ABI (i386). ``socketpair`` stays (asyncio's self-pipe), threads start.
   Where the kernel has Landlock but layer 4 or 5 cannot be applied, the program is not run (exit
   status 126, the reason on stderr).
6. **Audit hook** (``sys.addaudithook`` before the program's first line; it cannot be removed),
   refusing with PermissionError: sockets (``socket.*`` but an AF_UNIX pair), processes and signals
   (``os.fork``/``forkpty``/``posix_spawn``/``system``/``exec``, ``subprocess.Popen``,
   ``_posixsubprocess.fork_exec``, ``os.kill``/``killpg``, ``signal.pthread_kill``; ``os.pidfd_open``
   is deleted), native code (``ctypes.*``; loading ``ctypes``, ``cffi``, ``_posixsubprocess`` or
   subinterpreters afresh), ``fcntl.ioctl``, raising a hard rlimit, ``os.symlink``/``os.link``;
   opening for writing, creating, renaming, deleting or chmod-ing outside the temporary directory
   (``realpath``-resolved; a relative ``os.open`` and any ``dir_fd`` are refused: the hook cannot see
   that directory); opening or listing for reading outside what layer 4 allows; device nodes but
   ``/dev/null``/``(u)random``. A path is checked as the kernel receives it: a ``str``/``bytes``
   subclass by its characters (its methods are never called), any other path object (``os.PathLike``,
   pathlib included: its ``__fspath__`` could answer the check differently) is refused. Frames and the
   object graph (``sys._getframe``, ``tb_frame``/``gi_frame``/…, ``sys.settrace``, ``gc.get_objects``
   and ``get_referrers``/``get_referents``; ``gc.set_debug`` is removed) are refused with ValueError, as ``namedtuple``, ``typing``,
   ``enum`` and ``logging`` expect: a refused event's traceback holds the hook's frame, through which
   a program could rewrite the hook. Nothing else of the hook is reachable (the disarmed
   ``fork_exec`` holds no closure). Interpreter-printed tracebacks still work; the ``traceback``
   module's ``format_exc`` and ``inspect.stack`` do not.

An audit hook is not a security boundary (the CPython docs say so: hand-made bytecode can get past
it, and ``code.replace`` must stay allowed because ``asyncio`` needs it); layers 1-5 are what contain
a program that does, and a program can run native code of its own (crafted bytecode reads and writes
the interpreter's memory; an extension module written to its directory loads, since Landlock does not
govern executable mappings): it is then confined by the kernel layers alone, and anything held in its
own process (the code reward's assert-harness nonces) is readable by it. Not covered: disk filled inside the temporary directory (``max_file_mb`` per
file until the timeout); CPU shared with the caller; metadata (``os.stat``, ``os.readlink``: whether
a host path exists, its size and times, never its content); and, on a kernel without Landlock, reads
by hand-made bytecode that gets past the audit hook.
"""

from __future__ import annotations

import functools
import json
import math
import os
import selectors
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass

# Stage 1 (a separate exec, so that the program's interpreter never loads ctypes): confine this
# process with Landlock and seccomp, then exec stage 2, argv[2:]. argv[1] is the JSON of
# ``_read_roots``: what the interpreter may read besides its temporary directory.
_LANDLOCK = r"""
import ctypes, json, os, struct, sys

def elf_interpreter(path):  # the dynamic loader, which the kernel executes along with the binary
    with open(path, "rb") as file:
        head = file.read(64)
        if head[:4] != b"\x7fELF" or head[4:6] != b"\x02\x01":
            return None
        offset, (size, count) = struct.unpack_from("<Q", head, 32)[0], struct.unpack_from("<HH", head, 54)
        for index in range(count):
            file.seek(offset + index * size)
            kind, _, start, _, _, length = struct.unpack("<IIQQQQ", file.read(40))
            if kind == 3:  # PT_INTERP
                file.seek(start)
                return os.path.realpath(file.read(length).rstrip(b"\0").decode())
    return None

def mapped_files(program):  # this interpreter's shared libraries and locale files
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        fields = [line.split(maxsplit=5) for line in maps]
    files = {f[5].strip() for f in fields if len(f) == 6}
    return {f for f in files if f.startswith("/") and os.path.isfile(f) and f != program}

def under(path, root):
    return path == root or path.startswith(root + os.sep)

def confine(libc, tmp, programs, directories, listable, files):
    call, size = libc.syscall, ctypes.c_size_t
    abi = call(444, None, size(0), ctypes.c_uint32(1))  # landlock_create_ruleset: ABI version
    if abi < 1:
        return
    fs = (1 << 13) - 1 | (abi >= 2) << 13 | (abi >= 3) << 14  # EXECUTE..MAKE_SYM, REFER, TRUNCATE
    attr = struct.pack("QQQ", fs, 3 * (abi >= 4), 3 * (abi >= 6))[: 8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = call(444, attr, size(len(attr)), ctypes.c_uint32(0))
    read_file, read_dir = 4, 8
    rules = [(tmp, fs & ~(1 | 64 | 2048)), ("/dev/null", 2 | 4 | 1 << 14)]  # no EXECUTE, MAKE_CHAR/BLOCK
    rules += [(program, 1 | read_file) for program in programs]  # read and execute: exactly these files
    rules += [(path, read_file | read_dir) for path in directories if os.path.isdir(path)]
    rules += [(path, read_dir) for path in listable if os.path.isdir(path)]  # names, not contents
    rules += [(path, read_file) for path in files if os.path.isfile(path) or path.startswith("/dev/")]
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    for path, rights in rules:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        ok = call(445, ruleset, 1, struct.pack("<Qi", rights & fs, fd), 0) == 0  # rule: path beneath
        os.close(fd)
        if not ok:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    if call(446, ruleset, 0) != 0:  # landlock_restrict_self
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")

# Syscalls refused with EPERM: new sockets (socketpair stays: asyncio's self-pipe), System V and POSIX
# IPC, kernel keyrings, io_uring, ptrace and process_vm_*, new namespaces, mounts and root changes,
# bpf/perf/userfaultfd, leaving the process group (setsid/setpgid), new processes (fork, vfork, clone
# without CLONE_THREAD; clone3 gets ENOSYS, so threads fall back to clone), memfd_create/execveat
# (running an unnamed binary), inotify/fanotify and open_by_handle_at. (x86_64 and aarch64 numbers.)
SYSCALLS = {
    0xC000003E: {"clone": 56, "clone3": 435, "denied": (
        41, 42, 49, 29, 30, 31, 67, 64, 65, 66, 220, 68, 69, 70, 71, *range(240, 246), 248, 249, 250, 425,
        426, 427, 101, 310, 311, 272, 308, 165, 166, 155, 161, 321, 298, 323, 112, 109, 57, 58, 319, 322,
        253, 254, 294, 300, 304)},
    0xC00000B7: {"clone": 220, "clone3": 435, "denied": (
        198, 203, 200, *range(180, 198), 217, 218, 219, 425, 426, 427, 117, 270, 271, 97, 268, 40, 39, 41,
        51, 280, 241, 282, 157, 154, 279, 281, 26, 27, 262, 265)},
}

def seccomp(libc):
    arch = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(os.uname().machine)
    if arch is None:
        return  # syscall numbers unknown here: Landlock, namespaces and the hook remain
    calls = SYSCALLS[arch]
    allow, eperm, enosys = 0x7FFF0000, 0x50000 | 1, 0x50000 | 38
    # (code, jump if true, jump if false, k); a jump is a label, resolved below (BPF jumps forward only)
    code = [(0x20, 0, 0, 4), (0x15, 0, "enosys", arch), (0x20, 0, 0, 0)]  # other ABIs (i386): ENOSYS
    if arch == 0xC000003E:
        code.append((0x35, "eperm", 0, 0x40000000))  # x32 syscalls (nr | 2**30): EPERM
    code += [(0x15, "enosys", 0, calls["clone3"]), (0x15, "clone", 0, calls["clone"])]
    code += [(0x15, "eperm", 0, nr) for nr in calls["denied"]]
    code += [(0x06, 0, 0, allow), "clone", (0x20, 0, 0, 16), (0x45, "allow", "eperm", 0x10000)]  # CLONE_THREAD?
    code += ["allow", (0x06, 0, 0, allow), "eperm", (0x06, 0, 0, eperm), "enosys", (0x06, 0, 0, enosys)]
    labels, program = {}, []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(program)
        else:
            program.append(item)
    jump = lambda to, at: labels[to] - at - 1 if isinstance(to, str) else to
    raw = b"".join(struct.pack("<HBBI", c, jump(t, i), jump(f, i), k) for i, (c, t, f, k) in enumerate(program))
    buffer = ctypes.create_string_buffer(raw)
    fprog = struct.pack("<HxxxxxxQ", len(program), ctypes.addressof(buffer))
    if libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "seccomp filter not installed")

try:  # a kernel without Landlock runs the program under the other layers; one that fails to apply it, never
    python, roots = os.path.realpath(sys.executable), json.loads(sys.argv[1])
    programs = [p for p in (python, elf_interpreter(python)) if p]
    directories, files, stdlib = list(roots["directories"]), list(roots["files"]), roots["stdlib"]
    for path in mapped_files(python):  # a library's folder; only the file if the folder holds the stdlib
        folder = os.path.dirname(path)  # (extension modules, _ctypes here, are in roots or nowhere)
        if under(stdlib, folder):
            files.append(path)
        elif not under(folder, stdlib):
            directories.append(folder)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    confine(libc, os.path.realpath(os.getcwd()), programs, directories, roots["listable"], files)
    seccomp(libc)
except Exception as err:
    sys.stderr.write(f"sandbox: confinement failed, program not run: {err}\n")
    sys.exit(126)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""

_BOOTSTRAP = r"""
def _sandbox(mem, cpu, fsize, nofile, roots):
    import json, os, resource, stat, sys, types  # types reads a tb_frame when imported: before the hook
    inf = resource.RLIM_INFINITY
    for res, soft, hard in ((resource.RLIMIT_AS, mem, mem), (resource.RLIMIT_CPU, cpu, cpu + 1),
                            (resource.RLIMIT_FSIZE, fsize, fsize), (resource.RLIMIT_NOFILE, nofile, nofile),
                            (resource.RLIMIT_CORE, 0, 0)):
        old = resource.getrlimit(res)[1]
        hard = hard if old == inf else min(hard, old)
        resource.setrlimit(res, (min(soft, hard), hard))
    realpath, fsdecode, isabs = os.path.realpath, os.fsdecode, os.path.isabs
    tmp, roots = realpath(os.getcwd()), json.loads(roots)
    readable, readable_files = (tmp, *roots["directories"]), frozenset(roots["files"])
    listable = (*readable, *roots["listable"])
    devices = types.MappingProxyType({"/dev/null": True, "/dev/urandom": False, "/dev/random": False})  # writable?
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    # Frames and the object graph would lead to this hook's closure (a refused event's traceback holds
    # its frame): refused with ValueError, which namedtuple, typing, enum and logging expect.
    hidden = frozenset({"sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile",
                        "gc.get_objects", "gc.get_referrers", "gc.get_referents"})
    frame_attributes = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
    deny = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.system", "os.exec", "os.spawn",
            "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "os.symlink", "os.link",
            "resource.prlimit", "fcntl.ioctl", "sys.remote_exec"})
    no_import = frozenset({"ctypes", "_ctypes", "cffi", "_cffi_backend", "_posixsubprocess", "os", "posix", "gc",
                 "_xxsubinterpreters", "_xxinterpchannels", "_interpreters", "_interpchannels",
                 "_interpqueues", "_testcapi", "_testinternalcapi"})
    # event: (indices of path arguments, indices of dir_fd arguments)
    paths = types.MappingProxyType({"os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.mkdir": ((0,), (2,)),
             "os.rename": ((0, 1), (2, 3)), "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)),
             "os.utime": ((0,), (3,)), "os.truncate": ((0,), ()), "os.setxattr": ((0,), ()),
             "os.removexattr": ((0,), ()), "os.chflags": ((0,), ()), "os.lchflags": ((0,), ())})

    def refuse(event, detail=""):
        raise PermissionError(f"sandbox: {event} {detail}".rstrip() + " is not allowed")

    def inside(path, roots):
        return any(path == root or path.startswith(root + os.sep) for root in roots)

    def plain(event, path):  # the path as the kernel gets it, read without calling the program's methods
        if isinstance(path, str):
            return str.__str__(path)  # an exact str: a subclass's overridden methods are not called
        if isinstance(path, bytes):
            return fsdecode(bytes.__bytes__(path))
        refuse(event, f"of a {type(path).__name__} path (pass it as str)")

    def is_device(path):
        mode = os.stat(path).st_mode if os.path.exists(path) else 0
        return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return
            path, write = plain(event, path), bool(flags & write_flags)
            if mode is None and not isabs(path):
                refuse("os.open", "of a relative path")
            real = realpath(path)
            if real in devices:
                if write and not devices[real]:
                    refuse(event, f"{path!r} for writing")
            elif write and not inside(real, (tmp,)) or is_device(real):
                refuse(event, f"{path!r} for writing" if write else f"{path!r}")
            elif not write and not (inside(real, readable) or real in readable_files):
                refuse(event, f"{path!r}")
        elif event in ("os.listdir", "os.scandir"):
            path = args[0]
            if path is not None and not isinstance(path, int):
                if not inside(realpath(plain(event, path)), listable):
                    refuse(event, f"{path!r}")
        elif event in hidden or (event == "object.__getattr__" and args[1] in frame_attributes):
            what = f"{event} {args[1]}" if event == "object.__getattr__" else event
            raise ValueError(f"sandbox: {what} is not available")
        elif event in paths:
            where, dir_fds = paths[event]
            if any(args[i] not in (None, -1) for i in dir_fds):
                refuse(event, "with dir_fd")
            for i in where:
                if not isinstance(args[i], int) and not inside(realpath(plain(event, args[i])), (tmp,)):
                    refuse(event, f"{args[i]!r}")
        elif event == "resource.setrlimit":  # lowering, or raising a soft limit up to its hard one
            old, new = resource.getrlimit(args[0])[1], args[1][1]
            if old != inf and (new == inf or new > old):
                refuse(event, "raising a hard limit")
        elif event == "import":
            if args[0].partition(".")[0] in no_import:
                refuse("import", args[0])
        elif event == "socket.__new__" and args[1] == 1:  # AF_UNIX: asyncio's self-pipe socketpair
            return  # (connect, bind and sendto/sendmsg stay refused for every socket)
        elif event in deny or event.startswith(("socket.", "ctypes.", "_winapi.", "winreg.")):
            refuse(event)

    for module in (os, sys.modules["posix"]):
        module.__dict__.pop("pidfd_open", None)
    import gc  # DEBUG_SAVEALL would keep frames (a refused event's: the hook's) in gc.garbage
    del gc.set_debug  # and "gc" is in no_import: no fresh copy of the module
    def fork_exec(*args):  # no closure: nothing of the hook is reachable through it
        raise PermissionError("sandbox: _posixsubprocess.fork_exec is not allowed")

    import _posixsubprocess  # loaded now, disarmed, so that subprocess (and asyncio) import; a fresh
    _posixsubprocess.fork_exec = fork_exec  # load is refused
    with open("main.py", encoding="utf-8") as file:
        source = file.read()
    sys.argv[:] = ["main.py"]
    del sys.modules["__main__"].__dict__["_sandbox"]
    sys.addaudithook(hook)
    return compile(source, "main.py", "exec")

exec(_sandbox(*map(int, __import__("sys").argv[1:5]), __import__("sys").argv[5]))
"""


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run. ``cpu_s`` defaults to ``ceil(timeout_s) + 1`` (the wall clock usually ends
    a run first; CPU time only binds a program that burns several cores). ``site_packages`` lets the
    program import the environment's installed packages (off: standard library only, faster start);
    ``namespaces`` allows the unshare layer when it works here."""

    timeout_s: float = 5.0
    memory_mb: int = 512
    cpu_s: int | None = None
    max_output_bytes: int = 1 << 20
    max_file_mb: int = 16
    max_open_files: int = 128
    site_packages: bool = False
    namespaces: bool = True

    def __post_init__(self) -> None:
        if not (
            isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s) and self.timeout_s > 0
        ):
            raise ValueError(
                f"SandboxLimits.timeout_s must be a positive finite number, got {self.timeout_s!r}"
            )
        for name in ("memory_mb", "max_output_bytes", "max_file_mb", "max_open_files", "cpu_s"):
            value = getattr(self, name)
            if name == "cpu_s" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"SandboxLimits.{name} must be a positive int, got {value!r}")


DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True)
class SandboxResult:
    """What a run did. ``kill_reason``: ``"timeout"`` or ``"output_limit"`` when the parent killed the
    process group, ``"cpu_limit"``/``"file_size_limit"`` or ``"signal NAME"`` when a signal ended it
    (SIGKILL not sent by the parent: the CPU hard limit or the kernel's OOM killer), else None.
    ``stdout``/``stderr`` hold at most ``max_output_bytes`` each (``truncated`` says if cut)."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    kill_reason: str | None
    wall_s: float
    truncated: bool = False
    network_isolated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.kill_reason is None


@functools.cache
def _namespace_prefix() -> tuple[str, ...]:
    """``unshare`` arguments for the namespace layer this machine allows: user+net+pid+mount with a
    private ``/proc``, else user+net+pid (``/proc`` then still lists the host's processes; Landlock
    and the audit hook keep it unreadable), else ()."""
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    for private_proc in (("--mount-proc",), ()):
        prefix = (
            exe,
            "--user",
            "--net",
            "--pid",
            "--ipc",
            "--uts",
            *private_proc,
            "--fork",
            "--kill-child",
            "--",
        )
        try:
            probe = subprocess.run(
                [*prefix, sys.executable, "-S", "-c", "pass"], capture_output=True, timeout=30, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ()
        if probe.returncode == 0:
            return prefix
    return ()


def network_isolation_available() -> bool:
    """Whether runs get the namespace layer (no network, private PIDs) on this machine."""
    return bool(_namespace_prefix())


def private_proc_available() -> bool:
    """Whether runs get their own ``/proc``, listing only the sandbox's processes."""
    return "--mount-proc" in _namespace_prefix()


# Read by the interpreter besides its standard library and shared libraries (found at run time):
# the loader's cache, time zones and fonts (resvg renders text with the system's fonts).
_SYSTEM_DIRECTORIES = ("/usr/share/zoneinfo", "/usr/share/fonts", "/usr/local/share/fonts", "/etc/fonts")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/random")


# Extension modules that are never readable, so never loadable, even by a program that got past the
# audit hook: native calls (ctypes) and CPython's test and subinterpreter modules.
_UNLOADABLE = ("_ctypes", "_test", "_xx", "xxlimited")


@functools.cache
def _read_roots(site_packages: bool) -> str:
    """JSON of what a run may read besides its temporary directory (module docstring, layer 4):

    - ``directories`` (read beneath): the standard library's subpackages, the site-packages when
      ``site_packages``, fonts and time zones; stage 1 adds the folders of the shared libraries the
      interpreter maps (but a folder holding the standard library only gets its mapped files);
    - ``files``: the standard library's modules, lib-dynload's extension modules but ``_UNLOADABLE``,
      the venv's ``pyvenv.cfg``, the loader's cache, ``/dev/(u)random``;
    - ``listable`` (names only): the standard library and lib-dynload folders;
    - ``stdlib``: the standard library folder.

    Nothing else: not the working directory, the user's data, ``/proc`` or ``/sys``."""
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    dynload = os.path.realpath(sysconfig.get_config_var("DESTSHARED") or os.path.join(stdlib, "lib-dynload"))
    site_dirs = _existing(
        [sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()]
    )
    directories, files = [], []
    for entry in os.scandir(stdlib):  # the base interpreter's own site-packages (cffi, …) are no stdlib
        path = os.path.realpath(entry.path)
        if path != dynload and path not in site_dirs and entry.name not in ("site-packages", "dist-packages"):
            (directories if entry.is_dir() else files).append(path)
    files += [e.path for e in os.scandir(dynload) if e.is_file() and not e.name.startswith(_UNLOADABLE)]
    if site_packages:
        directories += site_dirs
    directories += _SYSTEM_DIRECTORIES
    files += [os.path.join(sys.prefix, "pyvenv.cfg"), *_SYSTEM_FILES]
    return json.dumps(
        {
            "directories": _existing(directories),
            "files": _existing(files),
            "listable": _existing([stdlib, dynload]),
            "stdlib": stdlib,
        }
    )


def _existing(paths: list[str]) -> list[str]:
    return sorted({os.path.realpath(path) for path in paths if path and os.path.exists(path)})


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _drain(proc: subprocess.Popen, cap: int, deadline: float) -> tuple[bytes, bytes, str | None]:
    """Read stdout/stderr until both close, the deadline passes, or one exceeds ``cap`` bytes."""
    assert proc.stdout is not None and proc.stderr is not None
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    reason = None
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and reason is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = "timeout"
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fd)
                buffers[key.fd] += chunk
                if len(buffers[key.fd]) > cap:
                    reason = "output_limit"
    out, err = buffers.values()
    return bytes(out), bytes(err), reason


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Wait for ``pid`` to exit without reaping it (its process group stays reserved); False at deadline."""
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True


def _signal_reason(returncode: int, cpu_used: float, cpu_limit: int) -> str | None:
    """Why a run the parent did not kill ended abnormally. CPU time is read from the rusage, since
    in a PID namespace the program is init and ignores SIGXCPU until the hard limit's SIGKILL (which
    ``unshare`` then reports as exit status 1)."""
    if returncode == 0:
        return None
    if cpu_used >= cpu_limit:
        return "cpu_limit"
    if returncode > 0:
        return None
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return f"signal {-returncode}"
    return {signal.SIGXCPU: "cpu_limit", signal.SIGXFSZ: "file_size_limit"}.get(sig, f"signal {sig.name}")


def run_python(code: str, stdin: str | bytes = b"", limits: SandboxLimits = DEFAULT_LIMITS) -> SandboxResult:
    """Run ``code`` as ``main.py`` in the sandbox described in the module docstring.

    ``stdin`` reaches the program through an unlinked file outside the temporary directory (no path
    to reopen it by). Never raises for anything the program does; OSError only if the interpreter
    cannot be started at all.
    """
    data = stdin.encode("utf-8", "surrogatepass") if isinstance(stdin, str) else bytes(stdin)
    prefix = _namespace_prefix() if limits.namespaces else ()
    cpu = limits.cpu_s if limits.cpu_s is not None else math.ceil(limits.timeout_s) + 1
    numbers = (limits.memory_mb << 20, cpu, limits.max_file_mb << 20, limits.max_open_files)
    flags = ["-s", "-P", "-B"] + ([] if limits.site_packages else ["-S"])
    with tempfile.TemporaryDirectory(prefix="reelrl-sandbox-", ignore_cleanup_errors=True) as tmp:
        with open(os.path.join(tmp, "main.py"), "w", encoding="utf-8", errors="surrogatepass") as file:
            file.write(code)
        env = {"HOME": tmp, "TMPDIR": tmp, "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PYTHONUTF8": "1",
               "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip
        roots = _read_roots(limits.site_packages)
        stage2 = [*flags, "-c", _BOOTSTRAP, *map(str, numbers), roots]
        command = [*prefix, sys.executable, "-s", "-P", "-B", "-S", "-c", _LANDLOCK, roots, *stage2]
        with tempfile.TemporaryFile() as stdin_file:
            stdin_file.write(data)
            stdin_file.seek(0)
            start = time.monotonic()
            deadline = start + limits.timeout_s
            proc = subprocess.Popen(command, cwd=tmp, env=env, stdin=stdin_file, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
        with proc:
            try:
                out, err, reason = _drain(proc, limits.max_output_bytes, deadline)
                if reason is None and not _wait_unreaped(proc.pid, deadline):
                    reason = "timeout"
            finally:
                _kill_group(proc.pid)  # stragglers too; the unreaped leader keeps the group id ours
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - start
    cap = limits.max_output_bytes
    return SandboxResult(
        returncode=proc.returncode,
        stdout=out[:cap].decode("utf-8", "replace"),
        stderr=err[:cap].decode("utf-8", "replace"),
        timed_out=reason == "timeout",
        kill_reason=reason or _signal_reason(proc.returncode, usage.ru_utime + usage.ru_stime, cpu),
        wall_s=wall,
        truncated=len(out) > cap or len(err) > cap,
        network_isolated=bool(prefix),
    )
