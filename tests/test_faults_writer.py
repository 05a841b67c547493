"""Writer and verifier faults (issue 16): sets listed in two splits, bad int16 scales and storage attributes
that `inspect --verify` and the bench pre-flight must name, a render whose memory must not grow with
`--sets-per-scene`, a refused `--out` that must stay untouched, and HDF5 meeting a file-size limit.

CLI behaviour goes through the real console script in subprocesses, as in tests/test_faults.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_support import SIMKIT, one_error_line

from simkit.data import layout
from simkit.data.storage import FLOAT32, SCALE_MAX, StorageConfig, derive_clips
from simkit.data.synthetic import write_synthetic_render
from simkit.data.validate import validate_dataset, verify_dataset
from simkit.data.writer import DatasetWriter, ShardStream, new_manifest, write_shard
from simkit.errors import SimkitError

TINY = ["--scenes", "3", "--sets-per-scene", "1", "--no-views", "--preset", "fast", "--views", "2",
        "--sources", "1", "--quiet"]
SCENES = {"a": "train", "b": "val", "c": "test"}


def run(*args: str, preexec=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SIMKIT, *args], capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)


def listing(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for directories)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def compact_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real render with the default (compact) storage: int16 RIRs and sources with their scales."""
    out = tmp_path_factory.mktemp("compact") / "render"
    proc = run("render", "--out", str(out), *TINY)
    assert proc.returncode == 0, proc.stderr
    return out


def _copy(src: Path, dst: Path) -> tuple[Path, Path]:
    shutil.copytree(src, dst)
    shard = sorted((dst / "shards").glob("*.h5"))[0]
    return dst, shard


# --- a set in two splits -------------------------------------------------------------------------------------

def _manifest() -> dict:
    return new_manifest(origin=layout.origin("synthetic", "t", "1"), config={"x": 1}, groups=["audio"])


@pytest.mark.parametrize(("splits", "needles"), [
    ({"train": ["walk#0", "walk#1"], "val": ["walk#0"], "test": []}, ["walk#0", "train", "val"]),
    ({"train": ["walk"], "val": [], "test": ["walk#1"]}, ["walk#1", "test", "walk", "train"]),
    ({"train": ["a", "b"], "val": ["c"], "test": ["b"]}, ["entry b is in both train and test"]),
])
def test_writer_refuses_a_set_listed_in_two_splits(tmp_path: Path, splits: dict, needles: list[str]) -> None:
    with DatasetWriter(tmp_path / "d", _manifest()) as w:
        with pytest.raises(SimkitError) as err:
            w.write_splits(splits)
        w.write_splits({"train": ["walk#0"], "val": ["walk#1"], "test": ["a"]})  # disjoint sets of a shard: fine
    message = str(err.value)
    assert "\n" not in message and all(n in message for n in needles), message
    assert (tmp_path / "d" / "splits" / "val.txt").read_text() == "walk#1\n"


def test_inspect_verify_and_the_bench_preflight_refuse_a_hand_edited_split_file(tmp_path: Path) -> None:
    root = write_synthetic_render(tmp_path / "r", SCENES, sets_per_scene=2)
    assert run("inspect", str(root), "--verify").returncode == 0
    (root / "splits" / "val.txt").write_text("b\na#1\n")  # a#1 is also in train (as part of a)
    proc = run("inspect", str(root), "--verify")
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc, "a#1", "val", "train")
    with pytest.raises(SimkitError, match=r"entry a#1 in val overlaps entry a in train"):
        verify_dataset(root)  # what bench runs before training
    with pytest.raises(SimkitError, match=r"splits .*a#1"):
        validate_dataset(root)  # plain `inspect` too: it costs nothing to check


# --- int16 scales and the storage attribute -----------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0, -1e-5, 1e30])
def test_verify_names_the_shard_and_dataset_of_a_bad_scale(compact_render: Path, tmp_path: Path,
                                                           bad: float) -> None:
    root, shard = _copy(compact_render, tmp_path / "data")
    with h5py.File(shard, "a") as f:
        assert f["rir/indirect"].dtype == np.int16 and 0 < f["rir/indirect_scale"][()].max() < 1.0
        scale = f["rir/indirect_scale"][()]
        scale[0, 1, 0, 1] = bad
        f["rir/indirect_scale"][...] = scale  # a valid chunk and checksum: only the value is wrong
    proc = run("inspect", str(root), "--verify")
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc, str(shard), "rir/indirect_scale")
    assert f"{SCALE_MAX:.3g}" in line
    with pytest.raises(SimkitError, match="rir/indirect_scale"):
        verify_dataset(root)  # what bench runs before training


def test_bench_stops_before_training_on_a_bad_scale(compact_render: Path, tmp_path: Path) -> None:
    root, shard = _copy(compact_render, tmp_path / "data")
    with h5py.File(shard, "a") as f:
        f["audio/source_scale"][0, 0] = np.nan
    results = tmp_path / "results"
    proc = run("bench", "--model", "ours_full", "--data", str(root), "--results", str(results), "--quick")
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc, str(shard), "audio/source_scale", "NaN")
    assert not (results / "runs").exists() or list((results / "runs").iterdir()) == []


def _set_storage(shard: Path, **fields: str) -> None:
    with h5py.File(shard, "a") as f:
        f.attrs["storage"] = json.dumps({**json.loads(f.attrs["storage"]), **fields}, sort_keys=True)


def test_storage_attribute_that_disagrees_with_the_stored_dtypes_is_named(compact_render: Path,
                                                                          tmp_path: Path) -> None:
    root, shard = _copy(compact_render, tmp_path / "says-float32")
    _set_storage(shard, rir="float32")  # the data are int16: read as float32 they would be 30000 times too loud
    proc = run("inspect", str(root), "--verify")
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc, str(shard), "rir/direct", "int16", "float32")
    # float32 data under int16 storage (with the int16 scale still beside it: read back scaled twice)
    root, shard = _copy(compact_render, tmp_path / "float32-data")
    with h5py.File(shard, "a") as f:
        data = f["audio/source"][()].astype(np.float32) * f["audio/source_scale"][()][..., None]
        del f["audio/source"]
        f.create_dataset("audio/source", data=data, chunks=True, fletcher32=True)
    proc = run("inspect", str(root), "--verify")
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc, str(shard), "audio/source", "float32", "int16")
    with pytest.raises(SimkitError, match="audio/source is float32 but the storage attribute says int16"):
        verify_dataset(root)


# --- a refused --out is left exactly as it was --------------------------------------------------------------

def test_a_refused_out_gets_no_lock_file_or_anything_else(tmp_path: Path) -> None:
    from published_layouts import write_fair_play

    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    (mine / "sub" / "data.bin").write_bytes(bytes(range(256)))
    before, mtime = listing(mine), mine.stat().st_mtime_ns
    render = run("render", "--out", str(mine), *TINY)
    assert render.returncode == 2, render.stderr
    one_error_line(render, "not empty and holds no simkit manifest")
    src = write_fair_play(tmp_path / "FAIR-Play", n_clips=4, seconds=2.0, n_splits=1)
    prepare = run("prepare", "fair-play", str(src), "--out", str(mine), "--quiet")
    assert prepare.returncode == 2, prepare.stderr
    one_error_line(prepare, "not empty and holds no simkit manifest")
    assert listing(mine) == before and mine.stat().st_mtime_ns == mtime


# --- bounded memory -----------------------------------------------------------------------------------------

def _peak_rss_mb(*args: str) -> float:
    """Peak resident memory of a whole ``simkit`` process (and anything it waited for)."""
    proc = subprocess.Popen([SIMKIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return usage.ru_maxrss / 1024


def test_render_memory_does_not_grow_with_sets_per_scene(tmp_path: Path) -> None:
    """Sets of 4 views with images: ~27 MB each as rendered, ~0.6 MB in a compact shard. Held until the shard
    was written, 8 sets took ~160 MB more than 2 (docs/scale.md); streamed, the difference is a few MB."""
    base = ["--scenes", "proc_000", "--preset", "fast", "--quiet"]
    two = _peak_rss_mb("render", "--out", str(tmp_path / "two"), "--sets-per-scene", "2", *base)
    eight = _peak_rss_mb("render", "--out", str(tmp_path / "eight"), "--sets-per-scene", "8", *base)
    assert eight - two < 60, f"peak RSS {two:.0f} MB at 2 sets, {eight:.0f} MB at 8"


@pytest.mark.parametrize("storage", [StorageConfig(), FLOAT32, StorageConfig(clips="int16", rir="float16")])
def test_streamed_shard_is_byte_identical_to_the_one_shot_shard(tmp_path: Path, storage: StorageConfig) -> None:
    rng = np.random.default_rng(5)
    n, v, s, t, r = 3, 2, 2, 2000, 300
    src = rng.standard_normal((n, s, t)).astype(np.float32)
    direct = (rng.standard_normal((n, v, s, 2, r)) * np.exp(-np.arange(r) / 20)).astype(np.float32)
    indirect = (0.1 * rng.standard_normal((n, v, s, 2, r))).astype(np.float32)
    arrays = {
        "audio/source": src, "rir/direct": direct, "rir/indirect": indirect,
        "audio/binaural": derive_clips(src[:, None, :, None, :], direct, indirect, 0.3),
        "audio/text": np.array([[f"set {k} source {j}" + "!" * k for j in range(s)] for k in range(n)], dtype=object),
        "rir/rt60": rng.random((n, v, s)).astype(np.float32),
        "views/rgb": rng.integers(0, 255, (n, v, 24, 32, 3), dtype=np.uint8),
        "views/depth": rng.random((n, v, 24, 32)).astype(np.float16),
    }
    attrs = {"scene_id": "x", "config_hash": "h", "sample_rate": 16000, "n_sets": n, "n_views": v,
             "n_sources": s, "indirect_gain": 0.3}
    groups, gattrs = ["audio", "rir", "views"], {"views": {"width": 32, "height": 24}}
    write_shard(tmp_path / "whole.h5", arrays, attrs, groups=groups, group_attrs=gattrs, storage=storage)
    with ShardStream(tmp_path / "streamed.h5", attrs, groups=groups, group_attrs=gattrs, storage=storage) as sh:
        for k in range(n):
            sh.add({name: a[k] for name, a in arrays.items()})
        assert [p.name for p in tmp_path.glob(".streamed.h5.*.spool.tmp")], "the bulky sets wait on disk"
        sh.write()
    assert (tmp_path / "streamed.h5").read_bytes() == (tmp_path / "whole.h5").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.h5", "whole.h5"], "temporaries left"


# --- HDF5 meets a file-size limit ---------------------------------------------------------------------------

def test_file_size_limit_while_hdf5_writes_the_shard_is_one_error_not_a_crash(tmp_path: Path) -> None:
    """Random images do not compress: with a file-size limit between the spool's size and the shard's, the
    spool fits and the limit is met by HDF5's own write of the shard. Under its other drivers (sec2, a
    Python file object) HDF5 crashes there (SIGSEGV, measured); here it must be one OutputError."""
    script = textwrap.dedent(f"""
        import resource, sys, zlib
        import numpy as np
        from pathlib import Path
        from simkit.data.writer import ShardStream
        from simkit.errors import OutputError
        n = 6
        rng = np.random.default_rng(0)
        sets = [rng.integers(0, 255, (2, 240, 320, 3), dtype=np.uint8) for _ in range(n)]
        attrs = dict(scene_id="x", config_hash="h", sample_rate=16000, n_sets=n, n_views=2, n_sources=1)

        def write(path):
            with ShardStream(path, attrs, groups=["views"],
                             group_attrs={{"views": {{"width": 320, "height": 240}}}}) as shard:
                for s in sets:
                    shard.add({{"views/rgb": s}})
                shard.write()

        ref = Path({str(tmp_path / "ref.h5")!r})
        write(ref)
        spool = sum(len(zlib.compress(s.tobytes(), 1)) for s in sets)
        assert spool < ref.stat().st_size, (spool, ref.stat().st_size)
        limit = (spool + ref.stat().st_size) // 2
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        try:
            write({str(tmp_path / "s.h5")!r})
        except OutputError as e:
            print("error:", e, file=sys.stderr)
            sys.exit(1)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    one_error_line(proc, "cannot write", "s.h5", "file size limit reached")
    assert [p.name for p in tmp_path.iterdir()] == ["ref.h5"], "no shard and no temporary file may be left"


def test_interrupt_while_the_shard_is_built_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT in the middle of the HDF5 build: held until the HDF5 call ends, then Interrupted, and neither
    the half-built shard (which the core driver writes into an unlinked file on its way out) nor the spool
    is left."""
    import signal

    from simkit import signals
    from simkit.data import writer
    from simkit.errors import Interrupted

    old = signal.getsignal(signal.SIGINT)
    signals.install((signal.SIGINT,))
    real = writer._complete

    def interrupted_complete(f, group_attrs):  # the signal arrives inside the last HDF5 step
        os.kill(os.getpid(), signal.SIGINT)
        return real(f, group_attrs)

    monkeypatch.setattr(writer, "_complete", interrupted_complete)
    attrs = dict(scene_id="x", config_hash="h", sample_rate=16000, n_sets=2, n_views=1, n_sources=1)
    try:
        with pytest.raises(Interrupted), ShardStream(tmp_path / "s.h5", attrs, groups=["views"],
                                                     group_attrs={"views": {"width": 32, "height": 24}}) as sh:
            for _ in range(2):
                sh.add({"views/rgb": np.zeros((1, 24, 32, 3), np.uint8)})
            sh.write()
    finally:
        signal.signal(signal.SIGINT, old)
    assert list(tmp_path.iterdir()) == []


def test_test_may_repeat_val_whole_but_not_overlap_it_in_part(tmp_path: Path) -> None:
    """RWAVS's `authors` protocol scores on val (test repeats it): allowed; a partial repeat is a mistake."""
    with DatasetWriter(tmp_path / "d", _manifest()) as w:
        w.write_splits({"train": ["a#0"], "val": ["a#1", "b"], "test": ["b", "a#1"]})
        with pytest.raises(SimkitError, match="entry b is in both val and test"):
            w.write_splits({"train": ["a#0"], "val": ["a#1", "b"], "test": ["b"]})
        with pytest.raises(SimkitError, match="entry a#1 is in both train and val"):
            w.write_splits({"train": ["a#1"], "val": ["a#1"], "test": ["a#1"]})


def test_signal_held_while_the_spool_is_created_leaves_no_file_or_descriptor(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The spool's scratch file is created under deferred(): a SIGTERM held there is raised as the block
    ends, after mkstemp; the file and its descriptor must not be orphaned."""
    import signal
    import tempfile

    from simkit import signals
    from simkit.errors import Interrupted

    real_mkstemp, created = tempfile.mkstemp, []

    def mkstemp_then_signal(*args, **kwargs):
        created.append(real_mkstemp(*args, **kwargs))
        signals.raise_or_defer(signal.SIGTERM)  # what the handler does for a signal inside deferred()
        return created[-1]

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_signal)
    attrs = dict(scene_id="x", config_hash="h", sample_rate=16000, n_sets=1, n_views=1, n_sources=1)
    with pytest.raises(Interrupted), ShardStream(tmp_path / "s.h5", attrs, groups=["views"],
                                                 group_attrs={"views": {"width": 32, "height": 24}}):
        pass
    assert len(created) == 1 and list(tmp_path.iterdir()) == []
    with pytest.raises(OSError):
        os.fstat(created[0][0])  # closed


def test_signal_held_while_the_shard_file_is_opened_closes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ShardStream.write opens the HDF5 file under deferred(): a signal held there is raised after the open,
    and the open file must then be closed (not left to the garbage collector) and nothing left on disk."""
    import signal

    from simkit import signals
    from simkit.data import writer
    from simkit.errors import Interrupted

    real_file, opened = h5py.File, []

    def file_then_signal(*args, **kwargs):
        f = real_file(*args, **kwargs)
        if kwargs.get("driver") == "core" and kwargs.get("backing_store"):
            opened.append(f)
            signals.raise_or_defer(signal.SIGTERM)
        return f

    monkeypatch.setattr(writer.h5py, "File", file_then_signal)
    attrs = dict(scene_id="x", config_hash="h", sample_rate=16000, n_sets=1, n_views=1, n_sources=1)
    with pytest.raises(Interrupted), ShardStream(tmp_path / "s.h5", attrs, groups=["views"],
                                                 group_attrs={"views": {"width": 32, "height": 24}}) as sh:
        sh.add({"views/rgb": np.zeros((1, 24, 32, 3), np.uint8)})
        sh.write()
    assert len(opened) == 1 and not opened[0].id.valid  # closed
    assert list(tmp_path.iterdir()) == []


def test_one_leftover_rule_for_datasets_and_egovideo(tmp_path: Path) -> None:
    """remove_stale_temporaries removes exactly the temporaries of killed writers in the folders it is given;
    is_leftover is the "empty but for leftovers" test of render/prepare (only the manifest's temporary) and
    egovideo (any temporary, older .mp4/.mkv ones too)."""
    from simkit.data.writer import WRITE_LOCK, is_leftover, remove_stale_temporaries

    names = [".manifest.json.a1.tmp", "shards/.s.h5.b2.tmp", "shards/.s.h5.c3.spool.tmp", "splits/x/.t.txt.d4.tmp",
             "shards/s.h5", "shards/.keep", "videos/.ego_0000.mp4.e5.mp4", "truth/.ego_0000.json.f6.tmp"]
    for n in names:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "shards" / ".dir.tmp").mkdir()  # not a file: left alone
    gone = remove_stale_temporaries(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in gone] == sorted(names[:4])
    gone = remove_stale_temporaries(tmp_path, ("videos", "truth"), ("mp4", "mkv"))
    assert [p.relative_to(tmp_path).as_posix() for p in gone] == sorted(names[-2:])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "shards/.keep", "shards/s.h5"]
    assert is_leftover(WRITE_LOCK) and is_leftover(".manifest.json.a1.tmp", of="manifest.json")
    assert not is_leftover(".labels.csv.a1.tmp", of="manifest.json") and is_leftover(".labels.csv.a1.tmp")
    assert is_leftover(".ego_0000.mp4.e5.mp4", legacy=("mp4",)) and not is_leftover(".ego_0000.mp4.e5.mp4")
    assert not is_leftover("notes.txt") and not is_leftover(".notes")
