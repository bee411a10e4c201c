"""Cache blocks from the machine and the autotuner: the caches read at run time
(checked against Linux sysfs, an independent source), the documented rule that
turns them into MC/KC/NC, the controls that change blocks and thresholds (never a
result's bits), and ``pyfwd.tune`` with its per-user file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import pyfwd
from pyfwd import _tuning
from pyfwd.activations import ACT_CODE

_core = pytest.importorskip("pyfwd._core")
ISAS = _core.supported_isas()
CPP = pyfwd.get_backend("cpp")


def _run(code: str, **env) -> subprocess.CompletedProcess:
    e = dict(os.environ, **env)
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=300)


@pytest.fixture
def restore_blocks():
    """Every level back to the state before the test (the cache rule or tuned)."""
    saved = {isa: _core.blocks(isa) for isa in ISAS}
    tun = _core.tunables()
    active = _core.isa()
    status = dict(_tuning._STATUS)
    yield
    for isa, per in saved.items():
        for dt, b in per.items():
            _core.set_blocks(isa, dt, b["MC"], b["KC"], b["NC"], b["source"])
    _core.set_tunables(tun["serial_flops"], tun["flops_per_thread"], tun["direct_max_n"])
    _core.set_isa(active)
    _tuning._STATUS = status


# -- caches -------------------------------------------------------------------

def _sysfs_caches():
    base = "/sys/devices/system/cpu/cpu0/cache"
    if not os.path.isdir(base):
        return None
    out = {}
    for d in sorted(os.listdir(base)):
        if not d.startswith("index"):
            continue
        p = os.path.join(base, d)
        def read(name):
            with open(os.path.join(p, name)) as f:
                return f.read().strip()
        try:
            level, typ, size = int(read("level")), read("type"), read("size")
        except OSError:
            continue
        if typ == "Instruction":
            continue
        mult = {"K": 1024, "M": 1 << 20}.get(size[-1], 1)
        out.setdefault(level, int(size.rstrip("KM")) * mult)
    return out or None


def test_caches_are_read_and_match_sysfs():
    c = _core.cache_info()
    assert c["source"] in ("cpuid leaf 0x4", "cpuid leaf 0x8000001d", "sysfs", "default", "PYFWD_CACHE_SIZES")
    assert 4096 <= c["l1d"] <= 1 << 20 and c["l2"] >= c["l1d"] and c["l3"] >= 0
    sysfs = _sysfs_caches()
    if sysfs is None:
        pytest.skip("no /sys/devices/system/cpu/cpu0/cache: nothing independent to compare with")
    if os.environ.get("PYFWD_CACHE_SIZES"):
        pytest.skip("PYFWD_CACHE_SIZES overrides detection in this run")
    # CPUID (leaf 4 / 0x8000001D) decoded by the core must agree with the kernel's view.
    assert c["l1d"] == sysfs.get(1) and c["l2"] == sysfs.get(2)
    if 3 in sysfs:
        assert c["l3"] == sysfs[3]
    shown = CPP.config()
    assert shown["caches"]["l1d"] == c["l1d"]
    assert set(shown["blocks"]["float32"]) >= {"MC", "KC", "NC", "source"}


# The rule of cache_info.h per bundle, written out independently: on the reference
# caches it gives the blocks the kernels were first tuned with.
RULE = {  # isa: (kc_level, {dtype: (kc_frac, mc_frac)})
    "generic": (1, {"float32": (0.25, 0.25), "float64": (0.5, 0.5)}),
    "avx2": (2, {"float32": (3 / 32, 0.5625), "float64": (3 / 32, 0.5625)}),
    "avx512": (2, {"float32": (1 / 16, 0.6), "float64": (1 / 32, 0.6)}),
}


def _expected(isa, dtype, l1, l2, l3, MR, NR):
    level, fr = RULE[isa]
    kc_frac, mc_frac = fr[dtype]
    es = 4 if dtype == "float32" else 8
    kc = int(kc_frac * (l1 if level == 1 else l2) / (NR * es)) // 8 * 8
    kc = min(max(kc, 64), 2048)
    mc = int(mc_frac * l2 / (kc * es)) // MR * MR
    mc = min(max(mc, MR), 64 * MR)
    lo = max(16 * NR, 1024) // NR * NR
    nc = min(max(int(l3 / (kc * es)) // NR * NR, lo), 8192 // NR * NR)
    return mc, kc, nc


@pytest.mark.parametrize("caches", [("32K", "256K", "8M"), ("48K", "2M", "4M"), ("32K", "512K", "32M"),
                                    ("16K", "128K", "0")])
def test_rule_gives_documented_blocks(caches):
    code = ("import json, pyfwd\nfrom pyfwd import _core\n"
            "print(json.dumps({i: _core.blocks(i) for i in _core.supported_isas()}))")
    r = _run(code, PYFWD_CACHE_SIZES=",".join(caches), PYFWD_TUNE="0")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    size = {"K": 1024, "M": 1 << 20}
    l1, l2, l3 = (int(c.rstrip("KM")) * size.get(c[-1], 1) for c in caches)
    for isa, per in got.items():
        for dt, b in per.items():
            assert (b["MC"], b["KC"], b["NC"]) == _expected(isa, dt, l1, l2, l3, b["MR"], b["NR"]), (isa, dt, b)
            assert b["source"] == "cache rule"
    # the reference machines' first-tuned blocks
    if caches == ("32K", "256K", "8M") and "avx2" in got:
        assert (got["avx2"]["float32"]["MC"], got["avx2"]["float32"]["KC"]) == (96, 384)
        assert (got["avx2"]["float64"]["MC"], got["avx2"]["float64"]["KC"]) == (48, 384)
    if caches == ("32K", "256K", "8M"):
        assert (got["generic"]["float32"]["MC"], got["generic"]["float32"]["KC"]) == (64, 256)


@pytest.mark.parametrize("bad", ["32K,256K", "abc,1,2", "0,256K,8M", "32K,256K,8M,1", "-1,2,3"])
def test_bad_cache_override_is_a_clear_error(bad):
    code = "import pyfwd, numpy as np\npyfwd.dense(np.ones((2, 3)), np.ones((4, 3)), backend='cpp')"
    r = _run(code, PYFWD_CACHE_SIZES=bad)
    assert r.returncode != 0
    assert "PYFWD_CACHE_SIZES" in r.stderr and "Segmentation" not in r.stderr


# -- controls -----------------------------------------------------------------

def test_set_blocks_validates(restore_blocks):
    isa = ISAS[-1]
    b = _core.blocks(isa)["float32"]
    for MC, KC, NC in [(b["MR"] + 1, 256, b["NC"]), (b["MC"], 256, b["NR"] + 1), (b["MC"], 0, b["NC"]),
                       (0, 256, b["NC"]), (b["MC"], 1 << 21, b["NC"])]:
        with pytest.raises(ValueError):
            _core.set_blocks(isa, "float32", MC, KC, NC)
    with pytest.raises(ValueError, match="dtype"):
        _core.set_blocks(isa, "float16", b["MC"], 256, b["NC"])
    with pytest.raises(ValueError, match="not supported|valid levels"):
        _core.set_blocks("sse9", "float32", b["MC"], 256, b["NC"])
    assert _core.blocks(isa)["float32"] == b  # unchanged after the refusals
    for kw in [dict(serial_flops=-1), dict(flops_per_thread=0), dict(direct_max_n=-5)]:
        with pytest.raises(ValueError):
            _core.set_tunables(**kw)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocks_and_thresholds_never_change_bits(isa, dtype, restore_blocks):
    """Tuning's promise: any blocks, any thresholds, the same output bits (K runs
    in order; threads split rows/columns only)."""
    _core.set_isa(isa)
    rng = np.random.default_rng(3)
    b = _core.blocks(isa)[dtype]
    M, K, N = 2 * b["MR"] * 7 + 5, 901, 300
    X = rng.standard_normal((M, K)).astype(dtype)
    W = rng.standard_normal((N, K)).astype(dtype)
    bias = rng.standard_normal(N).astype(dtype)
    Xf = np.asfortranarray(X)
    before = pyfwd.get_num_threads()
    outs = []
    try:
        for MC, KC, NC, th, tu in [(b["MC"], b["KC"], b["NC"], 1, (1.5e6, 1e6, 512)),
                                   (b["MR"], 64, b["NR"], 2, (0, 1, 0)),
                                   (b["MR"] * 3, 200, b["NR"] * 5, 2, (0, 1, 4096)),
                                   (b["MR"] * 50, 2048, 8192 // b["NR"] * b["NR"], 2, (1e12, 1e12, 512))]:
            _core.set_blocks(isa, dtype, MC, KC, NC)
            _core.set_tunables(*tu)
            pyfwd.set_num_threads(th)
            outs.append([_core.dense(X, W, bias, ACT_CODE["gelu"]), _core.dense(Xf, W, None, ACT_CODE["softmax"]),
                         _core.dense(X[:, :300], W[:, :300], bias, ACT_CODE["relu"])])
    finally:
        pyfwd.set_num_threads(before)
    for o in outs[1:]:
        for a, ref in zip(o, outs[0]):
            assert np.array_equal(a, ref)


# -- the tuner ----------------------------------------------------------------

def test_tune_runs_saves_and_applies(tmp_path, restore_blocks, monkeypatch):
    path = tmp_path / "tune.json"
    monkeypatch.setenv("PYFWD_TUNE_FILE", str(path))
    res = pyfwd.tune(rounds=1, progress=False)
    isa = ISAS[-1]
    assert set(res["blocks"]) == {isa} and set(res["blocks"][isa]) == {"float32", "float64"}
    for dt, b in res["blocks"][isa].items():
        assert b["speedup"] >= 1.0
        assert _core.blocks(isa)[dt]["source"] == ("cache rule" if b["kept_rule"] else "tuned")
        assert (_core.blocks(isa)[dt]["MC"], _core.blocks(isa)[dt]["KC"]) == (b["MC"], b["KC"])
    data = json.loads(path.read_text())
    assert data["version"] == 1 and _tuning.machine_key() in data["entries"]
    entry = data["entries"][_tuning.machine_key()]
    # a new process applies the saved winners at import, or ignores them with PYFWD_TUNE=0
    code = ("import json, pyfwd\nfrom pyfwd import _core\npyfwd.get_backend('cpp')\n"
            "print(json.dumps([_core.blocks(_core.supported_isas()[-1]), pyfwd._tuning.status()['state']]))")
    blocks, state = json.loads(_run(code, PYFWD_TUNE_FILE=str(path)).stdout)
    assert state == "tuned values applied"
    for dt, b in entry["blocks"].get(isa, {}).items():
        assert (blocks[dt]["MC"], blocks[dt]["KC"], blocks[dt]["NC"], blocks[dt]["source"]) == \
            (b["MC"], b["KC"], b["NC"], "tuned")
    blocks, state = json.loads(_run(code, PYFWD_TUNE_FILE=str(path), PYFWD_TUNE="0").stdout)
    assert state.startswith("disabled") and all(b["source"] == "cache rule" for b in blocks.values())
    # forget this machine's entry
    pyfwd._tuning.reset(remove_file=True)
    assert _tuning.machine_key() not in json.loads(path.read_text())["entries"]


@pytest.mark.parametrize("content,expect", [
    ("{not json", "ignored"),
    ('{"version": 99, "entries": {}}', "ignored"),
    ('{"version": 1, "entries": {}}', "not tuned for this machine"),
])
def test_bad_or_foreign_tune_file_is_ignored(tmp_path, content, expect):
    path = tmp_path / "tune.json"
    path.write_text(content)
    code = ("import numpy as np, pyfwd\nfrom pyfwd import _core\n"
            "y = pyfwd.dense(np.ones((40, 3), np.float32), np.ones((4, 3), np.float32), backend='cpp')\n"
            "assert (y == 3).all()\nprint(pyfwd._tuning.status()['state'])\n"
            "print(all(b['source'] == 'cache rule' for b in _core.blocks(_core.isa()).values()))")
    r = _run(code, PYFWD_TUNE_FILE=str(path))
    assert r.returncode == 0, r.stderr
    state, rule = r.stdout.strip().splitlines()
    assert expect in state and rule == "True"


def test_malformed_entry_is_not_half_applied(tmp_path):
    key_code = "import pyfwd; pyfwd.get_backend('cpp'); print(pyfwd._tuning.machine_key())"
    key = _run(key_code).stdout.strip()
    isa = ISAS[-1]
    b = _core.blocks(isa)["float32"]
    entry = {"blocks": {isa: {"float32": {"MC": b["MR"] * 2, "KC": 128, "NC": b["NC"]},
                              "float64": {"MC": 7, "KC": 128, "NC": 1}}}}  # float64 invalid
    path = tmp_path / "tune.json"
    path.write_text(json.dumps({"version": 1, "entries": {key: entry}}))
    code = ("import json, pyfwd\nfrom pyfwd import _core\npyfwd.get_backend('cpp')\n"
            f"print(json.dumps([_core.blocks({isa!r}), pyfwd._tuning.status()['state']]))")
    blocks, state = json.loads(_run(code, PYFWD_TUNE_FILE=str(path)).stdout)
    assert "ignored" in state and "MC" in state
    rule, _ = json.loads(_run(code, PYFWD_TUNE_FILE=str(path), PYFWD_TUNE="0").stdout)
    assert blocks == rule  # the valid float32 part was rolled back too


def test_bit_check_catches_a_changed_output():
    a = np.ones(5)
    _tuning._check_same_bits([a, a.copy()], "x")
    b = a.copy()
    b[2] = np.nextafter(1.0, 2.0)
    with pytest.raises(RuntimeError, match="changed the output bits"):
        _tuning._check_same_bits([a, a.copy(), b], "x")


def test_tune_arguments_are_checked():
    with pytest.raises(ValueError, match="profile"):
        pyfwd.tune("fast")
    with pytest.raises(ValueError, match="not supported"):
        pyfwd.tune(isas=["sse9"], write=False)
    with pytest.raises(ValueError, match="dtypes"):
        pyfwd.tune(dtypes=("float16",), write=False)


def test_tune_command_line_and_callable_module(tmp_path):
    r = _run("import pyfwd.tune, pyfwd\nassert callable(pyfwd.tune)\nprint(pyfwd.tune is not None)")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "pyfwd.tune", "--show"], capture_output=True, text=True,
                       env=dict(os.environ, PYFWD_TUNE_FILE=str(tmp_path / "t.json")), timeout=120)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert "not tuned" in shown["status"]["state"] and "blocks" in shown
