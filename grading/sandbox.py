"""Where the batch grader runs a submission: on Linux, inside bubblewrap (``bwrap``, Debian's and Ubuntu's
``bubblewrap`` package, the sandbox Flatpak uses), which needs no daemon, and no root where the kernel lets
users create namespaces; elsewhere, or with ``--no-sandbox``, as a plain process of the grader's user.

Inside the sandbox a submission's worker and kernel see:

* the course (the repository) and the Python they run on (its prefixes and every folder on its path),
  mounted read-only, and the system's programs and libraries (``/usr``) and a few files of ``/etc``;
* an empty, private ``/tmp`` (where the worker makes the kernel's working folder) and an empty, private home
  folder, each in memory and of a capped size, gone when the submission's row is written;
* no network (a network namespace of its own, with only a loopback), no other process (a pid namespace of
  its own, which ends, with every process in it, when the worker ends or the grader dies), no capability
  even when the grader runs as root (as root, bwrap would otherwise leave the sandbox free to mount the
  course read-write again).

So a ``%pip install`` or ``pip uninstall`` fails inside and changes nothing outside, a background process
ends with its row, a write into the repository fails, and a download fails at once. The folders the
submissions and the feedback are in are hidden (an empty folder in their place), so a submission cannot read
another student's notebook. :func:`what_a_cell_met` names, for a row, what a cell ran into.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

INSTALL = ("install it: `sudo apt-get install bubblewrap` (Debian, Ubuntu), `sudo dnf install bubblewrap` "
           "(Fedora), `sudo pacman -S bubblewrap` (Arch)")
# The files of /etc a Python kernel may read: the dynamic linker's cache, users and groups (for `~`), name
# lookup, time zone, fonts (matplotlib), certificates, MIME types. The rest of /etc stays out of sight.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "hosts", "host.conf",
       "localtime", "timezone", "fonts", "ssl", "ca-certificates", "pki", "mime.types", "alternatives",
       "os-release", "protocols", "services", "gai.conf", "locale.alias", "locale.conf")
# Top-level folders that hold programs and libraries: symbolic links to /usr on most systems now.
SYSTEM = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
TMP_BYTES = 2 * 2**30      # the private /tmp (the kernel's working folder is in it)
HOME_BYTES = 512 * 2**20   # the private home folder (caches, IPython's profile, pip's cache)
PROBE = "import ipykernel, nbclient, zmq"  # what a worker needs: imported inside the sandbox once, at the start


@dataclass(frozen=True)
class Sandbox:
    """How this batch runs its workers: ``prefix`` is the bwrap command a worker's command goes after (empty
    when not sandboxed), ``reason`` why it is not sandboxed (empty when it is)."""

    prefix: tuple[str, ...] = ()
    reason: str = ""

    @property
    def on(self) -> bool:
        return bool(self.prefix)

    def wrap(self, command: list[str]) -> list[str]:
        return [*self.prefix, "--", *command] if self.on else list(command)

    def notice(self) -> str:
        """What the grader says once, at the start, when it grades without a sandbox."""
        return (f"Not sandboxed: {self.reason}. Each submission still runs in a process of its own with the time "
                f"and memory limits, but it runs as you: it can install or remove packages in the course's "
                f"Python (%pip), write into the repository, use the network and leave processes running. "
                f"docs/instructors.md says more.")


def _needed_paths(root: Path, home: Path | None) -> list[Path]:
    """What a worker and its kernel read: the course (the repository, its two packages and its artifacts) and the
    Python the grader runs on (its prefixes, the real interpreter a virtual environment points at, and every
    folder on its path but the home folder, the repository's ancestors and the working folder when it is not
    the repository's, which would show far more)."""
    candidates = [root, root / "utils", root / "grading", root / "artifacts", Path(sys.prefix), Path(sys.exec_prefix),
                  Path(sys.base_prefix), Path(sys.base_exec_prefix),
                  Path(os.path.realpath(sys.executable)).parent.parent]
    candidates += [Path(p) for p in sys.path if p and os.path.isabs(p)]
    if os.environ.get("WORKBOOK_ARTIFACTS"):
        candidates.append(Path(os.environ["WORKBOOK_ARTIFACTS"]))
    cwd = Path.cwd()
    paths = []
    for path in candidates:
        path = Path(os.path.abspath(path))
        too_wide = path in root.parents or (home is not None and (path == home or path in home.parents))
        elsewhere = path == cwd and path != root and root not in path.parents  # `python -m` puts the cwd on the path
        if path.exists() and path != Path("/") and not too_wide and not elsewhere:
            paths.append(path)
    return list(dict.fromkeys(paths))


def _outermost(paths: list[Path]) -> list[Path]:
    """Of nested folders, only the outermost (a folder inside another is mounted with it)."""
    outermost = []
    for path in sorted(set(paths), key=lambda p: len(p.parts)):
        if not any(other == path or other in path.parents for other in outermost):
            outermost.append(path)
    return outermost


def _hidden_folders(private: list[Path], needed: list[Path]) -> list[Path]:
    """Of the folders in ``private`` (the submissions', the feedback's), those that exist, would be visible
    through a read-only mount, and can be covered by an empty folder without covering what the kernel needs."""
    hidden = []
    for folder in sorted({Path(os.path.abspath(p)) for p in private}, key=lambda p: len(p.parts)):
        shown = any(n in folder.parents for n in needed)
        covers_needed = any(folder == n or folder in n.parents for n in needed)
        if folder.is_dir() and shown and not covers_needed and not any(h in folder.parents for h in hidden):
            hidden.append(folder)
    return hidden


def bwrap_arguments(bwrap: str, root: Path, private: list[Path] = (), sizes: bool = True) -> list[str]:
    """The bwrap command (without the ``--`` and the command to run) for a worker of this batch."""
    home = Path(os.environ["HOME"]).resolve() if os.path.isabs(os.environ.get("HOME", "")) else None
    if home is not None and home == Path("/"):
        home = None
    needed = _needed_paths(root, home)
    mounted = _outermost(needed)
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr"]
    for name in SYSTEM:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind-try", "/sys/devices/system", "/sys/devices/system",  # CPU counts, for torch
             "--proc", "/proc", "--dev", "/dev"]
    # The private, empty folders first, then the read-only folders, outermost first (a folder mounted inside
    # the home folder, such as a Python under ~/.pyenv, after the home folder's own tmpfs).
    for path, size in sorted([(Path("/tmp"), TMP_BYTES)] + ([(home, HOME_BYTES)] if home else []),
                             key=lambda item: len(item[0].parts)):
        args += (["--size", str(size)] if sizes else []) + ["--tmpfs", str(path)]
    for path in mounted:
        args += ["--ro-bind", str(path), str(path)]
    for path in _hidden_folders(list(private), needed):
        args += ["--tmpfs", str(path)]
    args += ["--setenv", "TMPDIR", "/tmp", "--setenv", "JUPYTER_RUNTIME_DIR", "/tmp/jupyter-runtime",
             "--unsetenv", "XDG_RUNTIME_DIR", "--chdir", "/tmp"]
    return args


def choose(root: Path, private: list[Path] = (), no_sandbox: bool = False, which=shutil.which,
           platform: str = sys.platform) -> Sandbox:
    """Decide once, at the start of a batch, whether its workers run in bubblewrap: only on Linux, with bwrap
    installed and able to make a sandbox in which the course's Python starts (tried once, here)."""
    if no_sandbox:
        return Sandbox(reason="--no-sandbox was given")
    if not platform.startswith("linux"):
        return Sandbox(reason="bubblewrap (bwrap), the sandbox the grader uses, runs on Linux only; grade on a Linux "
                              "machine or in a Linux virtual machine to have one")
    bwrap = which("bwrap")
    if bwrap is None:
        return Sandbox(reason=f"bubblewrap (bwrap) is not installed; {INSTALL}")
    try:
        usage = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
        args = bwrap_arguments(bwrap, root, private, sizes="--size" in usage)
        probe = subprocess.run([*args, "--", sys.executable, "-c", PROBE], capture_output=True, text=True,
                               timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        return Sandbox(reason=f"bwrap could not be run ({type(error).__name__}: {error})")
    if probe.returncode != 0:
        said = [line.strip() for line in (probe.stderr or "").splitlines() if line.strip()]
        detail = said[-1][:200] if said else f"exit status {probe.returncode}"
        if "namespace" in detail or "uid map" in detail or "Operation not permitted" in detail \
                or "Permission denied" in detail:
            return Sandbox(reason=f"bwrap may not make a sandbox here ({detail}): this system does not let users "
                                  f"create namespaces; docs/instructors.md says how to allow it")
        return Sandbox(reason=f"the course's Python does not start inside bwrap ({detail})")
    return Sandbox(prefix=tuple(args))


# ---------------------------------------------------------------------------------------------------
# What a cell met
# ---------------------------------------------------------------------------------------------------

# Told by a cell's error or by what it printed (%pip prints pip's failure and raises nothing).
MET = (
    ("a read-only environment", "the course's files and its Python cannot be changed while it is graded",
     re.compile(r"Read-only file system|\[Errno 30\]")),
    ("no network", "submissions are graded offline",
     re.compile(r"Temporary failure in name resolution|Name or service not known|No address associated with "
                r"hostname|nodename nor servname|Network is unreachable|\[Errno 101\]|\[Errno -3\]")),
)
SCANNED_CHARS = 2**16  # of each output message: where pip and Python say what failed


def what_a_cell_met(text: str) -> tuple[str, str] | None:
    """``(what, why)`` when ``text`` (a cell's error or output) says the cell ran into a read-only file or
    folder, or found no network; None otherwise."""
    text = text[:SCANNED_CHARS]
    for what, why, pattern in MET:
        if pattern.search(text):
            return what, why
    return None
