"""The sandbox: hostile programs are contained (time, processes, memory, files, network, output).

Containment tests run twice: with the namespace layer (when this machine allows it) and without, so
the layers below it are shown to hold by themselves; the namespace and Landlock layers are also
tested alone (without the audit hook), where the kernel allows them.
"""

import json
import os
import socket
import subprocess
import sys
import time

import psutil
import pytest

from training.rewards import sandbox
from training.rewards.sandbox import SandboxLimits, network_isolation_available, run_python

LAYERS = [pytest.param(True, id="namespaces"), pytest.param(False, id="no-namespaces")]


def limits(namespaces: bool, **overrides) -> SandboxLimits:
    return SandboxLimits(namespaces=namespaces, **{"timeout_s": 3.0, **overrides})


@pytest.fixture
def no_leftover_processes():
    """Fails the test if any process started during it is still a descendant of this one."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield
    left = [p for p in me.children(recursive=True) if p.pid not in before]
    assert not left, f"processes left behind: {[(p.pid, p.name()) for p in left]}"


def test_runs_program_with_stdin_and_captures_output():
    result = run_python(
        "import sys\nname = input()\nprint('hi', name)\nprint('warn', file=sys.stderr)\n", "Ann\n"
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi Ann\n", "warn\n")
    assert result.ok and not result.timed_out and result.kill_reason is None and not result.truncated
    failing = run_python("raise SystemExit(3)")
    assert (failing.returncode, failing.ok, failing.kill_reason) == (3, False, None)


def test_temp_dir_is_cwd_home_and_tmpdir_and_is_deleted(monkeypatch):
    monkeypatch.setenv("REELRL_SECRET", "leak")
    code = (
        "import os, tempfile\n"
        "print(os.getcwd(), os.environ['HOME'], tempfile.gettempdir(), sorted(os.environ))"
    )
    cwd, home, tmp, names = run_python(code).stdout.split(" ", 3)
    assert cwd == home == tmp and os.path.basename(cwd).startswith("reelrl-sandbox-")
    assert "REELRL_SECRET" not in names
    assert not os.path.exists(cwd)


def test_hash_seed_is_fixed_so_output_is_reproducible():
    code = "import sys\nprint(sys.flags.hash_randomization, hash('apple'))"
    seeded = subprocess.run(
        [sys.executable, "-S", "-c", "print(hash('apple'))"],
        env={"PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert run_python(code).stdout == f"0 {seeded.stdout}"


@pytest.mark.parametrize("namespaces", LAYERS)
def test_infinite_loop_is_killed_by_the_wall_clock(namespaces, no_leftover_processes):
    result = run_python("while True:\n    pass\n", limits=limits(namespaces, timeout_s=1.0))
    assert result.timed_out and result.kill_reason == "timeout" and result.returncode == -9


@pytest.mark.slow
@pytest.mark.parametrize("namespaces", LAYERS)
def test_infinite_loop_is_killed_at_its_timeout(namespaces, no_leftover_processes):
    start = time.monotonic()
    result = run_python("while True:\n    pass\n", limits=limits(namespaces, timeout_s=1.0))
    assert result.timed_out and result.kill_reason == "timeout"
    assert 1.0 <= result.wall_s < 4.0 and time.monotonic() - start < 6.0  # not before 1 s; soon after


@pytest.mark.parametrize("namespaces", LAYERS)
def test_cpu_limit_ends_a_run_before_the_wall_clock(namespaces):
    result = run_python("while True:\n    pass\n", limits=limits(namespaces, timeout_s=60.0, cpu_s=1))
    # Not timed out: the CPU limit (1-2 CPU seconds) ended it long before the 60 s wall clock.
    assert not result.timed_out and result.kill_reason == "cpu_limit" and not result.ok


FORK_BOMBS = {
    "os.fork loop": "import os\nwhile True:\n    os.fork()\n",
    "subprocess loop": "import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '60'])\n",
    "os.system": "import os\nos.system('sleep 60 &')\n",
    "posix_spawn": "import os\nos.posix_spawn('/bin/sleep', ['sleep', '60'], {})\n",
    "exec": "import os\nos.execv('/bin/sleep', ['sleep', '60'])\n",
    "multiprocessing": "import multiprocessing as mp\nmp.Process(target=print).start()\n",
    "forkpty": "import os\nos.forkpty()\n",
}


@pytest.mark.parametrize("namespaces", LAYERS)
@pytest.mark.parametrize("name", sorted(FORK_BOMBS))
def test_process_creation_is_refused_and_nothing_survives(name, namespaces, no_leftover_processes):
    result = run_python(FORK_BOMBS[name], limits=limits(namespaces))
    assert result.returncode == 1 and not result.timed_out
    assert "PermissionError: sandbox:" in result.stderr


@pytest.mark.parametrize("namespaces", LAYERS)
def test_signalling_the_parent_is_refused(namespaces):
    result = run_python(
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", limits=limits(namespaces)
    )
    assert "sandbox: os.kill is not allowed" in result.stderr
    code = "import os, posix\nprint(hasattr(os, 'pidfd_open'), hasattr(posix, 'pidfd_open'))"
    assert run_python(code).stdout == "False False\n"  # no pidfd to signal through


@pytest.mark.parametrize("namespaces", LAYERS)
@pytest.mark.parametrize(
    "code", ["bytearray(10**10)\n", "grow = []\nwhile True:\n    grow.append(bytearray(10**7))\n"]
)
def test_memory_bomb_fails_and_the_parent_is_fine(code, namespaces):
    rss = psutil.Process().memory_info().rss
    result = run_python(code, limits=limits(namespaces, memory_mb=256))
    # The address-space limit makes the allocation raise inside the program: it exits with the
    # traceback, nothing has to kill it.
    assert result.returncode == 1 and result.kill_reason is None and not result.timed_out
    assert result.stderr.splitlines()[-1] == "MemoryError"
    assert psutil.Process().memory_info().rss < rss + (64 << 20)


ESCAPES = {
    "open": "open({path!r}, 'w').write('x')",
    "os.open": "import os\nos.write(os.open({path!r}, os.O_WRONLY | os.O_CREAT), b'x')",
    "pathlib": "import pathlib\npathlib.Path({path!r}).write_text('x')",
    "rename": "open('mine.txt', 'w').write('x')\nimport os\nos.rename('mine.txt', {path!r})",
    "symlink": "import os\nos.symlink({path!r}, 'link')\nopen('link', 'w').write('x')",
    "relative": "import os\nos.chdir({parent!r})\nopen({name!r}, 'w').write('x')",
    "shutil": "import shutil\nopen('mine.txt', 'w').write('x')\nshutil.copy('mine.txt', {path!r})",
}


@pytest.mark.parametrize("namespaces", LAYERS)
@pytest.mark.parametrize("how", sorted(ESCAPES))
def test_writing_outside_the_temp_dir_is_refused(how, namespaces, tmp_path):
    target = tmp_path / "escaped.txt"
    code = ESCAPES[how].format(path=str(target), parent=str(tmp_path), name=target.name)
    result = run_python(code, limits=limits(namespaces))
    assert "PermissionError: sandbox:" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize("namespaces", LAYERS)
def test_writing_inside_the_temp_dir_works(namespaces):
    code = (
        "import os, tempfile\nos.mkdir('sub')\nopen('sub/a.txt', 'w').write('one')\n"
        "os.rename('sub/a.txt', 'b.txt')\nwith tempfile.NamedTemporaryFile('w') as f:\n    f.write('t')\n"
        "print(open('b.txt').read(), sorted(os.listdir('.')))\nos.remove('b.txt')\n"
    )
    result = run_python(code, limits=limits(namespaces))
    assert result.ok, result.stderr
    assert result.stdout == "one ['b.txt', 'main.py', 'sub']\n"


def test_threads_and_the_deep_recursion_idiom_work():
    code = (
        "import resource, sys, threading\n"
        "resource.setrlimit(resource.RLIMIT_STACK, resource.getrlimit(resource.RLIMIT_STACK))\n"
        "sys.setrecursionlimit(100_000)\nthreading.stack_size(64 << 20)\n"
        "depth = lambda n: 0 if n == 0 else 1 + depth(n - 1)\n"
        "t = threading.Thread(target=lambda: print(depth(50_000)))\nt.start()\nt.join()\n"
    )
    result = run_python(code)
    assert (result.stdout, result.stderr) == ("50000\n", "")


def test_thread_bomb_is_bounded_by_the_address_space(no_leftover_processes):
    code = (
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n"
    )
    result = run_python(code, limits=SandboxLimits(timeout_s=1.5, memory_mb=256))
    assert "RuntimeError: can't start new thread" in result.stderr  # then exit waits for the sleepers
    assert result.kill_reason == "timeout" and result.timed_out  # killed, sleepers and all


@pytest.mark.slow
def test_thread_bomb_is_killed_at_its_timeout(no_leftover_processes):
    code = (
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n"
    )
    result = run_python(code, limits=SandboxLimits(timeout_s=1.5, memory_mb=256))
    assert result.kill_reason == "timeout" and result.wall_s < 6.0  # 1.5 s, not the sleepers' 60 s


def test_asyncio_runs():  # needs code.replace and an AF_UNIX socketpair
    code = "import asyncio\nasync def five():\n    return 5\nprint(asyncio.run(five()))"
    assert run_python(code).stdout == "5\n"


@pytest.mark.parametrize(
    "code",
    [
        "import socket\nsocket.socketpair()[0].connect('/var/run/docker.sock')",  # no unix connect
        "import socket\nsocket.socketpair()[0].bind('\\0abstract')",
        "open('/etc/passwd').read()",  # reading outside the temp dir and the Python installation
        "open('/proc/self/fd/0').read()",  # stdin cannot be reopened by path
        "open('/dev/zero', 'rb').read(1)",
        "import os\nos.mkdir('x', dir_fd=os.open('.', os.O_RDONLY))",  # the hook cannot see dir_fd's target
        "import os\nos.open('x', os.O_WRONLY | os.O_CREAT)",  # a relative os.open could be dir_fd-based
        "import ctypes",
        "import _posixsubprocess\n_posixsubprocess.fork_exec()",  # loaded, but disarmed
        "import sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess",  # no fresh copy
        "import _imp, importlib.util\n_imp.create_dynamic(importlib.util.find_spec('_ctypes'))",
        "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
    ],
)
def test_other_escapes_are_refused(code):
    assert "PermissionError: sandbox:" in run_python(code).stderr


@pytest.mark.parametrize("namespaces", LAYERS)
def test_socket_connection_never_arrives(namespaces):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'x')\n"
        result = run_python(code, limits=limits(namespaces))
        assert "sandbox: socket" in result.stderr
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


@pytest.mark.skipif(not network_isolation_available(), reason="no unprivileged user+net namespace here")
def test_namespace_layer_alone_blocks_network_and_hides_processes():
    """Without the audit hook (plain ``python -c``), the namespace still has no route out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        code = (
            "import os, socket\nprint(os.getpid())\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), timeout=1)\n"
            "except OSError as err:\n    print(type(err).__name__)\n"
        )
        command = [*sandbox._namespace_prefix(), sys.executable, "-S", "-c", code]
        out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout
        assert out.split()[0] == "1"  # init of its own PID namespace
        assert out.split()[1] in ("ConnectionRefusedError", "OSError")
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


def landlock_abi() -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(0, libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


@pytest.mark.skipif(landlock_abi() < 4, reason="needs Landlock ABI 4+ (Linux 6.7+)")
@pytest.mark.parametrize("namespaces", LAYERS)
def test_landlock_layer_alone_confines_files_exec_network_and_signals(namespaces, tmp_path, monkeypatch):
    """With the audit hook and the seccomp filter taken out, Landlock still refuses each escape."""
    monkeypatch.setattr(sandbox, "_BOOTSTRAP", sandbox._BOOTSTRAP.replace("sys.addaudithook(hook)", "pass"))
    monkeypatch.setattr(sandbox, "_LANDLOCK", sandbox._LANDLOCK.replace("    seccomp(libc)\n", ""))
    target = tmp_path / "escaped.txt"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = (
            "import os, socket\n"
            "def attempt(action):\n    try:\n        action()\n        print('done')\n"
            "    except OSError as err:\n        print(err.errno)\n"
            f"attempt(lambda: open({str(target)!r}, 'w'))\n"
            "attempt(lambda: open('inside.txt', 'w'))\n"
            f"print(os.system('touch {target}'))\n"  # /bin/sh may not be executed
            f"attempt(lambda: socket.create_connection(('127.0.0.1', {port}), timeout=1))\n"
            "attempt(lambda: os.kill(os.getppid() or 1, 0))\n"
        )
        result = run_python(code, limits=limits(namespaces))
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    lines = result.stdout.split()
    assert lines[:4] == ["13", "done", str(127 << 8), "13"], result.stderr  # EACCES, ok, sh: 127, EACCES
    if landlock_abi() >= 6 and not namespaces:  # in the PID namespace the parent is not visible anyway
        assert lines[4] == "1"  # EPERM: signals are scoped to the sandbox
    assert not target.exists()


@pytest.mark.parametrize("namespaces", LAYERS)
@pytest.mark.parametrize("stream", ["sys.stdout", "sys.stderr"])
def test_huge_output_is_truncated_without_hanging(stream, namespaces, no_leftover_processes):
    code = f"import sys\nwhile True:\n    {stream}.write('x' * 10000)\n"
    result = run_python(code, limits=limits(namespaces, max_output_bytes=50_000, timeout_s=30.0))
    # Killed for its output, not by the 30 s wall clock.
    assert result.kill_reason == "output_limit" and result.truncated and not result.timed_out
    assert len(result.stdout) <= 50_000 and len(result.stderr) <= 50_000


@pytest.mark.slow
@pytest.mark.parametrize("namespaces", LAYERS)
def test_huge_output_is_cut_at_once(namespaces, no_leftover_processes):
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 10000)\n"
    result = run_python(code, limits=limits(namespaces, max_output_bytes=50_000, timeout_s=30.0))
    assert result.kill_reason == "output_limit" and result.wall_s < 6.0  # ~0.2 s


def test_output_closed_early_still_times_out():
    code = "import os\nos.close(1)\nos.close(2)\nwhile True:\n    pass\n"
    result = run_python(code, limits=limits(True, timeout_s=1.0))
    assert result.timed_out and result.kill_reason == "timeout"


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout_s": 0}, {"timeout_s": float("nan")}, {"timeout_s": float("inf")}, {"memory_mb": 0},
     {"max_output_bytes": -1}, {"cpu_s": 0}, {"max_open_files": True}, {"max_file_mb": 1.5}],
)  # fmt: skip
def test_limits_are_validated(kwargs):
    with pytest.raises(ValueError, match="SandboxLimits"):
        SandboxLimits(**kwargs)


# ------------------------------------------------------------------ reads outside the sandbox

SECRET = "reelrl-secret-7f3a9c"  # the content of the host files below; never in any program's text

# Each program tries to read the host file at SECRET_PATH (or, for the last ones, learn what another
# host process is reading) and prints whatever it got; the test fails if SECRET reaches its output.
READ_ROUTES = {
    "open": "print(open(SECRET_PATH).read())",
    "bytes-path": "print(open(SECRET_PATH.encode(), 'rb').read())",
    "os.open": "import os\nprint(os.read(os.open(SECRET_PATH, os.O_RDONLY), 100))",
    "str-subclass": (  # its methods lie about the path; the kernel gets its characters
        "import os\nhere = os.getcwd()\n"
        "class P(str):\n"
        "    def __getitem__(self, i):\n"
        "        return here if i == slice(None, 0) else str.__getitem__(self, i)\n"
        "    def startswith(self, *a):\n        return False\n"
        "    def partition(self, sep):\n        return ('main.py', '', '')\n"
        "    def __fspath__(self):\n        return 'main.py'\n"
        "print(open(P(SECRET_PATH)).read())"
    ),
    "pathlike-flip": (  # its first __fspath__ (the kernel's) differs from later ones (a checker's)
        "import os\ncalls = []\n"
        "class P:\n    def __fspath__(self):\n"
        "        calls.append(1)\n        return SECRET_PATH if len(calls) == 1 else os.path.abspath('main.py')\n"
        "print(open(P()).read())"
    ),
    "mmap": (
        "import mmap, os\nfd = os.open(SECRET_PATH, os.O_RDONLY)\n"
        "print(mmap.mmap(fd, 0, prot=mmap.PROT_READ)[:100])"
    ),
    "import": "import sys\nsys.path.insert(0, SECRET_DIR)\nimport secret_module\nprint(secret_module.TOKEN)",
    "listdir": "import os\nprint(os.listdir(SECRET_DIR))",  # file names are secrets too
    "symlink": "import os\nos.symlink(SECRET_PATH, 'link')\nprint(open('link').read())",
    "ctypes": (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nbuf = ctypes.create_string_buffer(100)\n"
        "fd = libc.open(SECRET_PATH.encode(), 0)\nif fd < 0:\n    raise OSError(ctypes.get_errno(), 'open')\n"
        "libc.read(fd, buf, 100)\nprint(buf.value)"
    ),
    "proc-cmdline": (  # the scorer's command line names its input file
        "import os\nfor pid in os.listdir('/proc'):\n    try:\n"
        "        print(open(f'/proc/{pid}/cmdline', 'rb').read())\n    except OSError:\n        pass"
    ),
    "proc-fd-and-cwd": (  # a host process holding the file open, or sitting in its directory
        "import os\nfor pid in os.listdir('/proc'):\n"
        "    for path in [f'/proc/{pid}/cwd/secret.txt', f'/proc/{pid}/root' + SECRET_PATH]:\n"
        "        try:\n            print(open(path).read())\n        except OSError:\n            pass\n"
        "    try:\n        fds = os.listdir(f'/proc/{pid}/fd')\n    except OSError:\n        continue\n"
        "    for fd in fds:\n        try:\n            print(open(f'/proc/{pid}/fd/{fd}').read())\n"
        "        except OSError:\n            pass"
    ),
    "dev-fd": "import os\nfor fd in range(3, 64):\n    try:\n        print(open(f'/dev/fd/{fd}').read())\n"
    "    except OSError:\n        pass",
}
READ_LAYERS = [
    pytest.param("all", True, id="all-layers"),
    pytest.param("all", False, id="no-namespaces"),
    pytest.param("kernel", True, id="kernel-only"),  # the audit hook taken out
    pytest.param("kernel", False, id="landlock-only"),
]


@pytest.fixture
def host_secret(tmp_path):
    """A host directory holding SECRET (as a text file and a module), and a host process (a stand-in
    for the scorer) that holds the file open, sits in its directory and has SECRET in its argv."""
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "secret_module.py").write_text(f"TOKEN = {SECRET!r}\n")
    holder = subprocess.Popen(
        [sys.executable, "-S", "-c", "import sys, time\nf = open('secret.txt')\ntime.sleep(60)", SECRET],
        cwd=tmp_path,
    )
    try:
        yield tmp_path
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(("layers", "namespaces"), READ_LAYERS)
@pytest.mark.parametrize("route", sorted(READ_ROUTES))
def test_no_route_reads_a_host_file(route, layers, namespaces, host_secret, monkeypatch):
    if layers == "kernel":
        if landlock_abi() < 1:
            pytest.skip("no Landlock on this kernel: the audit hook is the only file layer")
        monkeypatch.setattr(
            sandbox, "_BOOTSTRAP", sandbox._BOOTSTRAP.replace("sys.addaudithook(hook)", "pass")
        )
        monkeypatch.setattr(sandbox, "_BOOTSTRAP", sandbox._BOOTSTRAP.replace('"ctypes", "_ctypes", ', ""))
    header = f"SECRET_DIR = {str(host_secret)!r}\nSECRET_PATH = {str(host_secret / 'secret.txt')!r}\n"
    result = run_python(header + READ_ROUTES[route], limits=limits(namespaces))
    assert SECRET not in result.stdout + result.stderr
    if route != "dev-fd":  # which tries every descriptor, quietly
        assert not result.ok  # the route raised (its error names the path, never the content)
    assert "secret_module.py" not in result.stdout


@pytest.mark.skipif(not sandbox.private_proc_available(), reason="no private /proc mount here")
def test_proc_lists_only_the_sandbox_processes(host_secret, monkeypatch):
    """Even with every file layer taken out, the private /proc shows no host process."""
    monkeypatch.setattr(sandbox, "_BOOTSTRAP", sandbox._BOOTSTRAP.replace("sys.addaudithook(hook)", "pass"))
    monkeypatch.setattr(
        sandbox, "_LANDLOCK", "import os, sys\nos.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
    )
    code = "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
    result = run_python(code)
    assert result.stdout == "[1]\n", result.stderr


def test_reads_inside_the_sandbox_and_the_python_installation_work():
    code = (
        "import json, os, zoneinfo, sqlite3, decimal, hashlib, lzma, bz2, zlib, ssl, time\n"
        "open('data.txt', 'w').write('kept')\nprint(open('data.txt').read(), sorted(os.listdir('.')))\n"
        "print(len(open(json.__file__).read()) > 0, time.localtime().tm_year > 2000)"
    )
    result = run_python(code)
    assert result.stdout == "kept ['data.txt', 'main.py']\nTrue True\n", result.stderr


@pytest.mark.parametrize("call", ["    confine(libc, os.path", "    seccomp(libc)\nexcept"])
def test_a_failed_confinement_runs_nothing(call, monkeypatch):
    if landlock_abi() < 1:
        pytest.skip("no Landlock on this kernel")
    assert call in sandbox._LANDLOCK
    monkeypatch.setattr(sandbox, "_LANDLOCK", sandbox._LANDLOCK.replace(call, call.replace("libc", "None")))
    result = run_python("print('ran')")
    assert result.returncode == 126 and result.stdout == ""
    assert "sandbox: confinement failed, program not run" in result.stderr


SYSCALLS = {  # x86_64 numbers, as the filter lists them
    "socket(AF_INET)": "libc.socket(2, 1, 0)",
    "socket(AF_UNIX)": "libc.socket(1, 1, 0)",
    "shmget": "libc.shmget(0, 4096, 0o1600)",  # System V IPC: no IPC namespace without unshare
    "msgget": "libc.msgget(0, 0o1600)",
    "keyctl": "libc.syscall(250, 1, -3)",  # KEYCTL_JOIN_SESSION... read of the session keyring: -3
    "add_key": "libc.syscall(248, b'user', b'k', b'v', 1, -3)",
    "io_uring_setup": "libc.syscall(425, 1, ctypes.create_string_buffer(120))",
    "setsid": "libc.setsid()",
    "unshare(NEWUSER)": "libc.unshare(0x10000000)",
    "ptrace(TRACEME)": "libc.ptrace(0, 0, 0, 0)",
    "fork": "libc.syscall(57)",
    "clone(SIGCHLD)": "libc.syscall(56, 17, 0, 0, 0, 0)",  # a process; threads (CLONE_THREAD) still start
    "memfd_create": "libc.memfd_create(b'x', 0)",  # with execveat: running a binary from memory
    "execveat": "libc.syscall(322, -1, b'', 0, 0, 0x1000)",
    "inotify_init1": "libc.inotify_init1(0)",  # would watch names in folders Landlock hides
}


@pytest.mark.skipif(os.uname().machine != "x86_64" or landlock_abi() < 1, reason="x86_64 with Landlock")
@pytest.mark.parametrize("namespaces", LAYERS)
def test_seccomp_layer_alone_refuses_sockets_ipc_keyrings_io_uring_and_new_sessions(namespaces, monkeypatch):
    """With the audit hook out and ctypes made loadable, each syscall fails with EPERM; socketpair works."""
    monkeypatch.setattr(sandbox, "_BOOTSTRAP", sandbox._BOOTSTRAP.replace("sys.addaudithook(hook)", "pass"))
    monkeypatch.setattr(sandbox, "_UNLOADABLE", ("_test",))
    sandbox._read_roots.cache_clear()
    calls = "".join(f"print({name!r}, {call}, ctypes.get_errno())\n" for name, call in SYSCALLS.items())
    code = "import ctypes, socket\nlibc = ctypes.CDLL(None, use_errno=True)\n" + calls
    code += "print('socketpair', len(socket.socketpair()))\n"
    code += "import threading\nt = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n"
    try:
        result = run_python(code, limits=limits(namespaces))
    finally:
        sandbox._read_roots.cache_clear()
    lines = result.stdout.splitlines()
    assert lines[:-2] == [f"{name} -1 1" for name in SYSCALLS], result.stderr
    assert lines[-2:] == ["socketpair 2", "thread"]


def test_ctypes_cannot_be_loaded_even_past_the_audit_hook(monkeypatch):
    if landlock_abi() < 1:
        pytest.skip("no Landlock on this kernel")
    monkeypatch.setattr(sandbox, "_BOOTSTRAP", sandbox._BOOTSTRAP.replace("sys.addaudithook(hook)", "pass"))
    result = run_python("import ctypes")
    assert (
        "ImportError: " in result.stderr
        and "_ctypes" in result.stderr
        and "Permission denied" in result.stderr
    )


FRAMES = "ValueError: sandbox:"


@pytest.mark.parametrize(
    ("code", "refusal"),
    [  # each would reach the hook's closure (and switch the hook off by rewriting it)
        ("import sys\nsys._getframe()", FRAMES),
        ("import gc\ngc.get_objects()", FRAMES),
        ("import gc\ngc.get_referrers(print)", FRAMES),
        ("try:\n    import ctypes\nexcept PermissionError as err:\n    err.__traceback__.tb_frame", FRAMES),
        ("def g():\n    yield\ng().gi_frame", FRAMES),
        ("import sys\nsys.settrace(lambda *a: None)", FRAMES),
        # DEBUG_SAVEALL would keep frames (a refused event's: the hook's) in gc.garbage
        (
            "import gc\ngc.set_debug(gc.DEBUG_SAVEALL)",
            "AttributeError: module 'gc' has no attribute 'set_debug'",
        ),
        (
            "import sys\ndel sys.modules['gc']\nimport gc",
            "PermissionError: sandbox: import gc is not allowed",
        ),
    ],
)
def test_frames_and_the_object_graph_are_not_available(code, refusal):
    assert refusal in run_python(code).stderr


@pytest.mark.parametrize("site_packages", [False, True])
def test_no_site_packages_is_readable_without_site_packages(site_packages):
    """The base interpreter's own site-packages sits inside the standard library's folder; it holds
    native-call modules (``_cffi_backend``) and is no part of the standard library."""
    roots = json.loads(sandbox._read_roots(site_packages))
    granted = [*roots["directories"], *roots["files"]]
    assert any("site-packages" in path for path in granted) == site_packages


def test_the_disarmed_fork_exec_leads_nowhere():
    """Its replacement holds no closure (it used to close over the hook's refuse function)."""
    code = "import _posixsubprocess\nprint(_posixsubprocess.fork_exec.__closure__)"
    assert run_python(code).stdout == "None\n"


def test_common_modules_still_work_without_frames():
    code = (
        "import asyncio, collections, dataclasses, enum, logging, typing\n"
        "print(collections.namedtuple('P', 'x')(1), enum.Enum('E', 'a').a)\n"
        "logging.warning('w')\nasyncio.run(asyncio.sleep(0))\nprint(typing.TypeVar('T'))"
    )
    result = run_python(code)
    assert result.stdout == "P(x=1) E.a\n~T\n" and result.stderr == "WARNING:root:w\n", result.stderr
