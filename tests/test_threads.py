"""Threads: ``pyfwd.threads(n)``, the default count (PYFWD_NUM_THREADS, OMP_NUM_THREADS,
affinity, cgroup quota) and the threadpoolctl controller."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import pyfwd
from pyfwd import _threads

SRC = os.path.dirname(os.path.dirname(os.path.abspath(pyfwd.__file__)))
NUMBA = "numba" in pyfwd.backends()


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the thread variables, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYFWD_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_py(code: str, env: dict[str, str], cwd, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def counts() -> set[int]:
    """pyfwd's count and what each loaded compiled backend took (Numba caps it at
    the NUMBA_NUM_THREADS it started with)."""
    got = {pyfwd.get_num_threads(), pyfwd.get_backend("cpp").config()["threads"]}
    if NUMBA:
        import numba

        n = pyfwd.get_backend("numba").config()["num_threads"]
        capped = min(pyfwd.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
        got.add(pyfwd.get_num_threads() if n == capped else n)
    return got


@pytest.fixture
def two_threads():
    saved = pyfwd.get_num_threads()
    pyfwd.set_num_threads(2)
    yield
    pyfwd.set_num_threads(saved)


# -- with pyfwd.threads(n) -----------------------------------------------------------
def test_threads_sets_and_restores_every_backend(two_threads):
    with pyfwd.threads(1):
        assert counts() == {1}
        net = pyfwd.Network([5, 7, 3], ["relu", "softmax"], seed=1)
        net.forward(np.ones((4, 5)))
    assert counts() == {2}


def test_threads_restores_on_exception_and_nests(two_threads):
    with pytest.raises(KeyError):
        with pyfwd.threads(1):
            raise KeyError("boom")
    assert counts() == {2}
    with pyfwd.threads(3):
        with pyfwd.threads(1):
            assert pyfwd.get_num_threads() == 1
        assert counts() == {3}
    assert counts() == {2}


def test_threads_bad_count_changes_nothing(two_threads):
    for bad, exc in ((0, ValueError), (-1, ValueError), (5000, ValueError), ("2", TypeError), (1.5, TypeError)):
        with pytest.raises(exc):
            with pyfwd.threads(bad):
                pass
        assert counts() == {2}
    with pyfwd.threads(1):  # and the bookkeeping was not left half done
        pass
    assert pyfwd.get_num_threads() == 2


def test_threads_blocks_open_in_two_threads(two_threads):
    """Two tasks in one worker process, each in threads(1), ending in the order
    they started: the first to leave must not give the second 2 threads, and the
    count before both comes back at the end (a plain save/restore leaves 1)."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def task_a():
        with pyfwd.threads(1):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def task_b():
        a_in.wait(10)
        with pyfwd.threads(1):
            b_in.set()
            a_out.wait(10)
            seen["b_after_a_left"] = pyfwd.get_num_threads()

    ts = [threading.Thread(target=task_a), threading.Thread(target=task_b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    assert seen["b_after_a_left"] == 1
    assert counts() == {2}


def test_threads_newest_open_block_rules(two_threads):
    """A (1) and B (3) open, A leaves first: B's count stays until B leaves."""
    a = pyfwd.threads(1)
    b = pyfwd.threads(3)
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert pyfwd.get_num_threads() == 3
    b.__exit__(None, None, None)
    assert pyfwd.get_num_threads() == 2


# -- the default count ---------------------------------------------------------------
PRINT_COUNT = "import pyfwd; print(pyfwd.get_num_threads())"


@pytest.mark.parametrize("env, expected", [
    ({"PYFWD_NUM_THREADS": "3"}, 3),
    ({"PYFWD_NUM_THREADS": "3", "OMP_NUM_THREADS": "1"}, 3),  # pyfwd's own variable first
    ({"OMP_NUM_THREADS": "1"}, 1),
    ({"OMP_NUM_THREADS": " 3,2 "}, 3),  # OpenMP's list form: the outer level
    ({"OMP_NUM_THREADS": "4000"}, _threads.MAX_THREADS),
])
def test_default_count_from_environment(tmp_path, env, expected):
    r = run_py(PRINT_COUNT, clean_env(**env), tmp_path)
    assert r.returncode == 0 and r.stdout.split() == [str(expected)], r.stderr


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5", ",2"])
def test_bad_omp_num_threads_warns_and_is_ignored(tmp_path, raw):
    """OMP_NUM_THREADS belongs to every OpenMP runtime: a bad value is reported and
    ignored (as libgomp does), never an import error."""
    r = run_py(PRINT_COUNT + "; print(pyfwd._threads.available_cpus())", clean_env(OMP_NUM_THREADS=raw),
               tmp_path)
    assert r.returncode == 0, r.stderr
    count, cpus = r.stdout.split()
    assert count == cpus
    assert "RuntimeWarning" in r.stderr and f"OMP_NUM_THREADS={raw!r}" in r.stderr


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "5000"])
def test_bad_pyfwd_num_threads_fails_import(tmp_path, raw):
    r = run_py(PRINT_COUNT, clean_env(PYFWD_NUM_THREADS=raw, OMP_NUM_THREADS="2"), tmp_path)
    assert r.returncode != 0 and "PYFWD_NUM_THREADS must be" in r.stderr and repr(raw) in r.stderr


def test_default_count_is_the_affinity_mask(tmp_path):
    r = run_py(PRINT_COUNT + "; import os; print(len(os.sched_getaffinity(0)))", clean_env(), tmp_path)
    assert r.returncode == 0, r.stderr
    count, mask = map(int, r.stdout.split())
    assert count == min(mask, pyfwd._threads.available_cpus())
    if shutil.which("taskset") is None:
        pytest.skip("taskset not installed: the pinned half of this test did not run")
    r = run_py(PRINT_COUNT, clean_env(), tmp_path, prefix=("taskset", "-c", "0"))
    assert r.returncode == 0 and r.stdout.split() == ["1"], r.stderr


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_smallest_along_the_ancestors(tmp_path):
    root = tmp_path / "cg"
    write(tmp_path / "self", "0::/a/b\n")
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "self")) is None  # no files
    write(root / "a" / "b" / "cpu.max", "max 100000\n")
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "self")) is None  # "max": none
    write(root / "a" / "cpu.max", "250000 100000\n")
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "self")) == 2.5
    write(root / "a" / "b" / "cpu.max", "50000 100000\n")
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "self")) == 0.5


def test_cgroup_v1_quota(tmp_path):
    root = tmp_path / "cg"
    write(tmp_path / "self", "5:memory:/x\n3:cpu,cpuacct:/job\n0::/\n")
    write(root / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us", "-1\n")
    write(root / "cpu,cpuacct" / "job" / "cpu.cfs_period_us", "100000\n")
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "self")) is None  # -1: none
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "150000\n")
    write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "self")) == 1.5
    write(tmp_path / "garbage", "not a cgroup line\n::\n")
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "garbage")) is None
    assert _threads.cgroup_cpu_limit(str(root), str(tmp_path / "missing")) is None


@pytest.mark.parametrize("quota, expected", [(None, 64), (0.5, 1), (1.5, 2), (3.0, 3), (100.0, 64)])
def test_available_cpus_caps_by_quota_rounded_up(monkeypatch, quota, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(_threads, "cgroup_cpu_limit", lambda: quota)
    assert _threads.available_cpus() == expected


# -- threadpoolctl -------------------------------------------------------------------
threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl not installed")


def pyfwd_entries():
    return [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "pyfwd"]


def test_threadpool_info_lists_pyfwd(two_threads):
    from pyfwd import _core

    (entry,) = pyfwd_entries()
    assert entry["user_api"] == "pyfwd" and entry["version"] == pyfwd.__version__
    assert os.path.realpath(entry["filepath"]) == os.path.realpath(_core.__file__)
    assert entry["num_threads"] == 2
    assert pyfwd.show_config(print_=False)["threadpoolctl"] == "registered"


@pytest.mark.parametrize("user_api", [None, "pyfwd"])
def test_threadpool_limits_limits_every_backend_and_restores(two_threads, user_api):
    with threadpoolctl.threadpool_limits(1, user_api=user_api):
        assert counts() == {1}
        assert pyfwd_entries()[0]["num_threads"] == 1
    assert counts() == {2}


def test_threadpool_limits_before_the_first_call(tmp_path):
    """The issue's case: a fresh process enters threadpool_limits(1) before pyfwd
    ran anything; the first call inside must run on one thread."""
    code = ("import numpy as np, pyfwd, threadpoolctl\n"
            "net = pyfwd.Network([5, 7, 3], ['relu', 'softmax'])\n"
            "with threadpoolctl.threadpool_limits(1):\n"
            "    net.forward(np.ones((4, 5)))\n"
            "    print(pyfwd.get_backend('cpp').config()['threads'])\n"
            "print(pyfwd.get_backend('cpp').config()['threads'])\n")
    r = run_py(code, clean_env(PYFWD_NUM_THREADS="2"), tmp_path)
    assert r.returncode == 0 and r.stdout.split() == ["1", "2"], r.stderr


def test_another_packages_core_library_is_not_pyfwd(tmp_path):
    """threadpoolctl matches file names: another package's ``_core.<abi>.so`` (SciPy
    has one) must not be listed as, or limited as, pyfwd."""
    import _bisect  # any loadable shared library that is not pyfwd's

    if not getattr(_bisect, "__file__", None):
        pytest.skip("_bisect is built into this Python: no shared library to copy")
    fake = tmp_path / os.path.basename(pyfwd._core.__file__)
    shutil.copy(_bisect.__file__, fake)
    code = ("import ctypes, pyfwd, threadpoolctl\n"
            f"ctypes.CDLL({str(fake)!r})\n"
            "print(sorted(i['filepath'] for i in threadpoolctl.threadpool_info()"
            " if i['internal_api'] == 'pyfwd'))\n")
    r = run_py(code, clean_env(), tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == repr([os.path.realpath(pyfwd._core.__file__)])
