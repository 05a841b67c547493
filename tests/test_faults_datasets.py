"""Hostile and damaged dataset sources for ``simkit prepare``, driven through the console script: nothing in a
dataset runs, nothing outside it is read, nothing is silently lost, and each fault is one ``error:`` line
(exit 2) before anything is written."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_support import SIMKIT
from published_layouts import panned, write_fair_play, write_rwavs, write_soundspaces1, write_stereocrw_wild


def simkit_prepare(name: str, src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([SIMKIT, "prepare", name, str(src), "--out", str(out), "--quiet", *extra],
                          capture_output=True, text=True, timeout=600)


def one_error(proc: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a refused run (exit 2, no traceback)."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    return lines[0]


# ---------------------------------------------------------------- nothing from a dataset runs


class _Payload:
    """Unpickling this creates a directory: what a hostile graph.pkl would do (rm -rf, a reverse shell...)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("where", ["node attribute", "whole file"])
def test_soundspaces1_graph_pickle_payload_never_runs(tmp_path: Path, where: str) -> None:
    import networkx as nx

    src = write_soundspaces1(tmp_path / "ss")
    marker = tmp_path / "pwned"
    graph_file = src / "metadata/replica/apartment_0/graph.pkl"
    if where == "node attribute":
        g = nx.Graph()
        g.add_node(0, point=[0.0, 1.5, 0.0], note=_Payload(marker))
        payload = g
    else:
        payload = _Payload(marker)
    graph_file.write_bytes(pickle.dumps(payload, protocol=4))
    out = tmp_path / "out"
    line = one_error(simkit_prepare("soundspaces1", src, out, "--option", "clip_seconds=0.5"))
    assert re.match(rf"error: unsafe {re.escape(str(graph_file))}: it names (posix|os)\.mkdir, which a networkx "
                    "graph of plain data does not hold; refused, nothing from it was run$", line), line
    assert not marker.exists(), "the payload in graph.pkl ran"
    assert not out.exists(), "a refused source must leave no output"


def test_graph_unpickler_reads_every_protocol_and_refuses_code_paths() -> None:
    """The restricted reader restores real networkx pickles (protocols 0-5, numpy points, cached views) and
    refuses the opcode tricks that would call or patch something."""
    import networkx as nx

    from simkit.data.adapters._safe_pickle import UnsafePickle, graph_nodes, load_graph

    g = nx.DiGraph()
    g.add_node(0, point=(np.float64(1.0), np.float64(-0.5), 2.0))
    g.add_node(1, point=np.array([3.0, 0.0, -1.0]))
    g.add_edge(0, 1)
    _ = g.nodes, g.edges, g.adj, g.degree  # cached views land in the pickled __dict__
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        nodes = graph_nodes(load_graph(pickle.dumps(g, protocol=proto)))
        assert sorted(nodes) == [0, 1]
        np.testing.assert_array_equal(np.asarray(nodes[1]["point"], float), [3.0, 0.0, -1.0])
    class Call:  # pickles as "call f(*args)": GLOBAL f + REDUCE
        def __init__(self, f, *args) -> None:
            self.f, self.args = f, args

        def __reduce__(self):
            return (self.f, self.args)

    reconstruct = np.ndarray((0,)).__reduce__()[0]  # numpy's _reconstruct, wherever this numpy keeps it
    hostile = {
        "eval": pickle.dumps(Call(eval, "print('ran')"), protocol=2),
        "networkx class called (its __init__ converts data)": pickle.dumps(Call(nx.Graph, [(0, 1)]), protocol=4),
        "dotted name into a function": pickle.dumps(nx.Graph.__init__, protocol=4),
        "80 GB array": pickle.dumps(Call(reconstruct, np.ndarray, (10**10,), b"d"), protocol=2),
        # GLOBAL Graph, then BUILD on the class itself: would patch networkx for the whole process
        "class patch": b"\x80\x02cnetworkx.classes.graph\nGraph\nN}X\x05\x00\x00\x00nodesK\x01s\x86b.",
    }
    import networkx.classes.graph as nxg

    before = dict(vars(nxg.Graph))
    for name, data in hostile.items():
        with pytest.raises(UnsafePickle):
            load_graph(data)
            pytest.fail(f"{name} was loaded")
    assert dict(vars(nxg.Graph)) == before, "a pickle patched networkx"


def test_soundspaces1_graph_at_floor_level_is_accepted(tmp_path: Path) -> None:
    """SoundSpaces' graph holds floor-level points (ear height 1.5528907 m below points.txt in Replica): the
    axis check compares the horizontal plane only."""
    import networkx as nx

    src = write_soundspaces1(tmp_path / "ss")
    g = nx.Graph()
    for i, (x, y, z) in {0: (0.0, 0.0, 1.5), 1: (1.0, 0.0, 1.5), 2: (0.0, 2.0, 1.5)}.items():
        g.add_node(i, point=[np.float64(x), np.float64(z - 1.5528907), np.float64(-y)])
    (src / "metadata/replica/apartment_0/graph.pkl").write_bytes(pickle.dumps(g, protocol=3))
    proc = simkit_prepare("soundspaces1", src, tmp_path / "out", "--option", "clip_seconds=0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---------------------------------------------------------------- nothing outside SRC is read


def _stereo_video(path: Path, seconds: float, side: float = 1.0, seed: int = 0) -> Path:
    from simkit.video.io import write_video

    rng = np.random.default_rng(seed)
    frames = np.full((int(seconds * 5), 48, 64, 3), 60, np.uint8)
    audio = panned(rng, int(seconds * 16000), 16000, side).T.astype(np.float32)
    return write_video(path, frames, 5, audio, 16000)


VF_OPTS = ("--option", "clip_seconds=1", "--option", "clip_hop=1", "--option", "frames_per_clip=1",
           "--option", "frame_width=32")


def _video_folder(root: Path, videos: dict[str, float], labels: list[str]) -> Path:
    src = root / "src"
    (src / "videos").mkdir(parents=True)
    for k, (name, seconds) in enumerate(videos.items()):
        _stereo_video(src / "videos" / name, seconds, side=1.0 if k % 2 == 0 else -1.0, seed=k)
    (src / "labels.csv").write_text("video,start_s,end_s,azimuth\n" + "".join(f"{x}\n" for x in labels))
    return src


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_video_folder_label_outside_src_is_refused(tmp_path: Path, how: str) -> None:
    outside = _stereo_video(tmp_path / "outside" / "secret.mp4", 2.0)
    name = {"dotdot": "../../outside/secret.mp4", "absolute": str(outside), "symlink": "link.mp4"}[how]
    src = _video_folder(tmp_path, {"walk.mp4": 2.0}, ["walk.mp4,0,2,90", f"{name},0,2,-90"])
    if how == "symlink":
        (src / "videos" / "link.mp4").symlink_to(outside)
    out = tmp_path / "out"
    line = one_error(simkit_prepare("video-folder", src, out, *VF_OPTS))
    assert line.startswith(f"error: {src / 'labels.csv'}:3: video {name!r} resolves to {outside.resolve()}, "
                           f"outside the source {src.resolve()}")
    assert not out.exists()


def test_video_folder_licence_symlinked_out_of_src_is_not_copied(tmp_path: Path) -> None:
    """The LICENSE text goes into the manifest: a symlink to a private file must not carry it there."""
    secret = tmp_path / "home" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("-----BEGIN PRIVATE KEY-----")
    src = _video_folder(tmp_path, {"walk.mp4": 2.0}, ["walk.mp4,0,2,90"])
    (src / "LICENSE").symlink_to(secret)
    out = tmp_path / "out"
    line = one_error(simkit_prepare("video-folder", src, out, *VF_OPTS))
    assert line.startswith(f"error: LICENSE resolves to {secret.resolve()}, outside the source {src.resolve()}")
    assert not out.exists()


def test_fair_play_clip_symlinked_out_of_src_is_refused(tmp_path: Path) -> None:
    src = write_fair_play(tmp_path / "fp", n_clips=4, seconds=1.0, n_splits=1, videos=False, frames_25d=True)
    private = tmp_path / "private.wav"
    wav = src / "binaural_audios" / "000002.wav"
    shutil.move(wav, private)
    wav.symlink_to(private)
    out = tmp_path / "out"
    line = one_error(simkit_prepare("fair-play", src, out, "--option", "clip_seconds=1.0", "--option",
                                    f"frames={src / 'frames'}", "--option", "frame_size=24x32"))
    assert line.startswith(f"error: folder {src / 'binaural_audios'}: 000002.wav resolves to {private.resolve()}, "
                           "outside the source")
    assert not out.exists()


def test_rwavs_file_path_outside_src_is_refused(tmp_path: Path) -> None:
    import json

    src = write_rwavs(tmp_path / "release", {"1": {"source": [-1.0, 1.0, 0.5], "camera": [0.0, 0.0, 0.5],
                                                   "yaw": lambda t: 40.0 * t}}, seconds=4)
    (tmp_path / "outside").mkdir()
    shutil.copy(src / "1" / "frames" / "00002.png", tmp_path / "outside" / "00002.png")
    tf = src / "1" / "transforms_scale_train.json"
    items = json.loads(tf.read_text())
    items["camera_path"][1]["file_path"] = "../../outside/00002.png"
    tf.write_text(json.dumps(items))
    out = tmp_path / "out"
    line = one_error(simkit_prepare("rwavs", src, out, "--option", "image_size=24x32"))
    assert line.startswith(f"error: {tf}: camera_path[1].file_path '../../outside/00002.png' resolves to "
                           f"{(tmp_path / 'outside' / '00002.png').resolve()}, outside the source")
    assert not out.exists()


def test_stereocrw_wild_label_path_outside_src_is_refused(tmp_path: Path) -> None:
    clips = {"I2dP8FmisJQ_1150_1160": [(5, 0, 0)], "lbTNvwGMyFQ_0070_0080": [(10, 3, 0)]}
    src = write_stereocrw_wild(tmp_path / "Youtube-Binaural", clips)
    # a copy of a clip outside SRC, named by a label row that climbs out of ProcessedData/
    clip = src / "ProcessedData/Youtube-IntheWild/lbTNvwGMyFQ/lbTNvwGMyFQ_0070_0080"
    shutil.copytree(clip, tmp_path / "outside" / "yt" / "clip")
    labels = src / "data-split/in-the-wild/test_with_label.csv"
    text = labels.read_text().replace("ProcessedData/Youtube-IntheWild/lbTNvwGMyFQ/lbTNvwGMyFQ_0070_0080",
                                      "ProcessedData/../../outside/yt/clip")
    labels.write_text(text)
    out = tmp_path / "out"
    line = one_error(simkit_prepare("stereocrw-wild", src, out, "--option", "image_size=24x32"))
    assert line.startswith(f"error: {labels}:3: path './data/Youtube-Binaural/ProcessedData/../../outside/yt/clip'"
                           f" resolves to {(tmp_path / 'outside/yt/clip').resolve()}, outside the source")
    assert not out.exists()


# ---------------------------------------------------------------- nothing silently lost


def test_video_folder_videos_sharing_a_stem_keep_every_clip(tmp_path: Path) -> None:
    src = _video_folder(tmp_path, {"walk.mp4": 3.0, "walk.mkv": 3.0, "other.mp4": 3.0},
                        ["walk.mp4,0,3,90", "walk.mkv,0,3,-90", "other.mp4,0,3,45"])
    out = tmp_path / "out"
    proc = simkit_prepare("video-folder", src, out, *VF_OPTS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shards = sorted(p.name for p in (out / "shards").glob("*.h5"))
    assert shards == ["other.h5", "walk.mkv.h5", "walk.mp4.h5"]
    for name, az in (("walk.mp4", 90.0), ("walk.mkv", -90.0)):
        with h5py.File(out / "shards" / f"{name}.h5") as f:
            assert f.attrs["source_video"] == name
            assert f["labels/azimuth_deg"][()].reshape(-1).tolist() == [az] * 3  # 3 clips of 1 s each
    entries = [e for s in ("train", "val", "test") for e in (out / "splits" / f"{s}.txt").read_text().split()]
    assert len(entries) == len(set(entries)) == 9, entries  # every clip once, in one split


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_video_folder_unreadable_video_is_an_error(tmp_path: Path, damage: str) -> None:
    src = _video_folder(tmp_path, {"walk.mp4": 2.0, "broken.mp4": 2.0}, ["walk.mp4,0,2,90", "broken.mp4,0,2,-90"])
    broken = src / "videos" / "broken.mp4"
    data = broken.read_bytes()
    broken.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])  # an mp4 cut short loses its index
    out = tmp_path / "out"
    line = one_error(simkit_prepare("video-folder", src, out, *VF_OPTS))
    assert line.startswith(f"error: {src / 'labels.csv'}:3: video broken.mp4 cannot be read (")
    assert str(broken) in line
    assert not out.exists()


def test_video_folder_truncated_matroska_is_an_error(tmp_path: Path) -> None:
    """A Matroska file cut in half still probes at its full length; its audio ends early."""
    src = _video_folder(tmp_path, {"walk.mp4": 2.0, "cut.mkv": 8.0}, ["walk.mp4,0,2,90", "cut.mkv,0,8,-90"])
    cut = src / "videos" / "cut.mkv"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    line = one_error(simkit_prepare("video-folder", src, out, *VF_OPTS))
    assert re.match(rf"error: {re.escape(str(src / 'labels.csv'))}:3: video cut.mkv is truncated: clip "
                    r"cut@0:7 needs audio up to 8.00 s, the file's audio ends at [0-4]\.\d\d s$", line), line
    assert not out.exists()


def test_truncated_wav_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    src = write_fair_play(tmp_path / "fp", n_clips=4, seconds=1.0, n_splits=1, videos=False, frames_25d=True)
    wav = src / "binaural_audios" / "000003.wav"
    data = wav.read_bytes()
    wav.write_bytes(data[: 44 + 4 * 20000])  # header + 20,000 of the 48,000 frames the header declares
    out = tmp_path / "out"
    line = one_error(simkit_prepare("fair-play", src, out, "--option", "clip_seconds=1.0", "--option",
                                    "frame_size=24x32", "--option", f"frames={src / 'frames'}"))
    assert line == f"error: truncated audio file {wav}: its header declares 48000 frames, the file holds 20000"
    assert not out.exists()


def test_truncated_rwavs_recording_is_refused(tmp_path: Path) -> None:
    from simkit.data.prepare import prepare
    from simkit.errors import SimkitError

    src = write_rwavs(tmp_path / "release", {"1": {"source": [-1.0, 1.0, 0.5], "camera": [0.0, 0.0, 0.5],
                                                   "yaw": lambda t: 40.0 * t}}, seconds=4)
    wav = src / "1" / "binaural_syn_re.wav"
    wav.write_bytes(wav.read_bytes()[: 44 + 4 * 22050 * 2])  # 2 of the 4 s
    with pytest.raises(SimkitError, match=r"truncated audio file .*binaural_syn_re\.wav: its header declares "
                                          r"88200 frames, the file holds 44100"):
        prepare("rwavs", src, tmp_path / "out", {"image_size": "24x32"}, progress=False)


# ---------------------------------------------------------------- ranges checked up front


@pytest.mark.parametrize("rate", ["1000000000", "192001", "7999"])
def test_prepare_sample_rate_out_of_range_is_one_line_and_writes_nothing(tmp_path: Path, rate: str) -> None:
    # a valid source: before the bound, 1e9 Hz wrote the manifest, then died resampling (MemoryError)
    src = write_fair_play(tmp_path / "fp", n_clips=4, seconds=1.0, n_splits=1, videos=False, frames_25d=True)
    out = tmp_path / "out"
    line = one_error(simkit_prepare("fair-play", src, out, "--sample-rate", rate, "--option", "clip_seconds=1.0",
                                    "--option", f"frames={src / 'frames'}", "--option", "frame_size=24x32"))
    assert line == f"error: --sample-rate must be 8000 .. 192000 Hz (got {rate})"
    assert not out.exists()


# ---------------------------------------------------------------- no numpy setstate or planted method runs


class _Reduce:
    """Pickles as ``func(*args)`` followed by ``BUILD state``: how numpy's arrays and dtypes pickle."""

    def __init__(self, func, args, state=None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


_LOAD_SCRIPT = """
import sys
from simkit.data.adapters._safe_pickle import UnsafePickle, load_graph
try:
    load_graph(open(sys.argv[1], "rb").read())
except UnsafePickle as e:
    print("refused:", e)
else:
    print("loaded")
"""


def _load_in_subprocess(tmp_path: Path, payload: bytes) -> str:
    """What ``load_graph`` makes of ``payload``, in a child process: a native crash must not take pytest down."""
    f = tmp_path / "graph.pkl"
    f.write_bytes(payload)
    proc = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, str(f)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])  # -11 / 139: numpy read past its input
    assert proc.stderr.strip() == "", proc.stderr[-2000:]  # nothing numpy complains about while freeing
    return proc.stdout.strip()


def test_graph_pickle_object_array_shorter_than_its_shape_is_refused_not_a_crash(tmp_path: Path) -> None:
    """numpy's C ``__setstate__`` reads ``prod(shape)`` items from the list it is given, however short the list
    is: before the fix a 100-byte graph.pkl killed the process (exit 139)."""
    import networkx as nx

    reconstruct = np.ndarray((0,)).__reduce__()[0]
    g = nx.Graph()
    g.add_node(0, point=_Reduce(reconstruct, (np.ndarray, (0,), b"b"), (1, (100000,), np.dtype("O8"), False, [1])))
    out = _load_in_subprocess(tmp_path, pickle.dumps(g, protocol=2))
    assert out == "refused: object array of 100000 elements does not hold a list of 100000 plain scalars", out


def test_graph_pickle_dtype_with_foreign_flags_is_refused(tmp_path: Path) -> None:
    """A dtype's pickled state may only be numpy's own for its type code: flags=63 (object-holding) on an 'S8'
    dtype made numpy fail internally when the array was freed."""
    import networkx as nx

    g = nx.Graph()
    g.graph["dt"] = _Reduce(np.dtype, ("S8", False, True), (3, "|", None, None, None, 8, 1, 63))
    out = _load_in_subprocess(tmp_path, pickle.dumps(g, protocol=2))
    assert out.startswith("refused: dtype |S8 state (3, '|', None, None, None, 8, 1, 63) is not numpy's own"), out


def test_graph_unpickler_restores_arrays_exactly() -> None:
    """The reader builds arrays from their pickled bytes itself: every dtype, byte order, memory order and a
    plain object array come back equal, in every protocol, and shared arrays stay shared."""
    import networkx as nx

    from simkit.data.adapters._safe_pickle import load_graph

    shared = np.arange(6, dtype="<i4").reshape(2, 3)
    attrs = {"f8": np.array([3.0, 0.0, -1.0]), "be": np.arange(4, dtype=">f4"), "fortran": np.asfortranarray(shared),
             "bool": np.array([True, False]), "text": np.array(["ab", "c"]), "bytes": np.array([b"xy"]),
             "obj": np.array(["a", 1, None, 2.5], dtype=object).reshape(2, 2), "empty": np.zeros((0, 3)),
             "scalar": np.float32(1.5), "a": shared, "b": shared}
    g = nx.Graph()
    g.add_node(0, **attrs)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        got = load_graph(pickle.dumps(g, protocol=proto))._node[0]
        for k, v in attrs.items():
            assert type(got[k]) is type(v) and got[k].dtype == v.dtype and got[k].shape == v.shape, (proto, k)
            np.testing.assert_array_equal(got[k], v)
        assert got["a"] is got["b"], proto


@pytest.mark.parametrize("opcode", ["APPEND", "APPENDS", "ADDITEMS"])
def test_graph_pickle_cannot_plant_a_method_for_the_fill_opcodes(opcode: str) -> None:
    """The stock APPEND/APPENDS/ADDITEMS call ``obj.append``/``extend``/``add``: a graph whose state sets that
    name to ``numpy.ndarray`` made APPEND (2**30,) allocate 8 GiB. Here the call is numpy.ndarray(1)."""
    from simkit.data.adapters._safe_pickle import UnsafePickle, load_graph

    name, tail = {"APPEND": (b"append", b"K\x01a"), "APPENDS": (b"extend", b"(K\x01e"),
                  "ADDITEMS": (b"add", b"(K\x01\x90")}[opcode]
    graph = b"cnetworkx.classes.graph\nGraph\n)\x81"
    key = b"X" + len(name).to_bytes(4, "little") + name
    planted = b"\x80\x04" + graph + b"}" + key + b"cnumpy\nndarray\nsb" + tail + b"."
    with pytest.raises(UnsafePickle, match=rf"it sets Graph\.{name.decode()} to a type, which a networkx graph does "
                                           "not hold; refused"):
        load_graph(planted)
    # and the opcode itself refuses anything but a builtin list / set
    with pytest.raises(UnsafePickle, match=rf"{opcode} on a Graph, not a (list|set); refused"):
        load_graph(b"\x80\x04" + graph + tail + b".")


def test_soundspaces1_point_that_is_a_hollow_networkx_view_is_one_line(tmp_path: Path) -> None:
    """The message names the point's type: formatting it with repr ran networkx code on an object the pickle
    left uninitialised (AttributeError: the CLI's 'unexpected error' path, exit 1)."""
    import networkx as nx

    src = write_soundspaces1(tmp_path / "ss")
    g = nx.Graph()
    g.add_node(0, point="HOLLOW")
    placeholder = b"X\x06\x00\x00\x00HOLLOW"  # protocol 2: unframed, so one value can be swapped for another
    data = pickle.dumps(g, protocol=2)
    assert data.count(placeholder) == 1
    hollow = b"cnetworkx.classes.reportviews\nNodeView\n)\x81"  # NodeView created empty, never BUILT
    graph_file = src / "metadata/replica/apartment_0/graph.pkl"
    graph_file.write_bytes(data.replace(placeholder, hollow))
    line = one_error(simkit_prepare("soundspaces1", src, tmp_path / "out", "--option", "clip_seconds=0.5"))
    assert line == f"error: {graph_file}: node 0's point (a NodeView) is not three numbers"


# ---------------------------------------------------------------- a relative SRC means what an absolute one does


def _prepare_relative(name: str, parent: Path, src_name: str, out_name: str,
                      *extra: str) -> subprocess.CompletedProcess:
    """``simkit prepare NAME SRC`` run from ``parent`` with SRC and --out given relative to it."""
    return subprocess.run([SIMKIT, "prepare", name, src_name, "--out", out_name, "--quiet", *extra], cwd=parent,
                          capture_output=True, text=True, timeout=600)


def test_relative_src_symlink_out_of_src_is_refused(tmp_path: Path) -> None:
    """Before the fix a relative SRC made the check look at SRC/SRC/... (absent) and accept the symlink."""
    src = write_fair_play(tmp_path / "fp", n_clips=4, seconds=1.0, n_splits=1, videos=False, frames_25d=True)
    private = tmp_path / "private.wav"
    wav = src / "binaural_audios" / "000002.wav"
    shutil.move(wav, private)
    wav.symlink_to(Path("..") / ".." / "private.wav")
    proc = _prepare_relative("fair-play", tmp_path, "fp", "out", "--option", "clip_seconds=1.0", "--option",
                             "frames=fp/frames", "--option", "frame_size=24x32")
    line = one_error(proc)
    assert line.startswith(f"error: folder {src / 'binaural_audios'}: 000002.wav resolves to {private.resolve()}, "
                           "outside the source"), line
    assert not (tmp_path / "out").exists()


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.h5"))}


def test_relative_src_prepares_rwavs_and_stereocrw_as_an_absolute_one(tmp_path: Path) -> None:
    """RWAVS frames and StereoCRW clip folders are found under a relative SRC (before the fix both looked for
    SRC/SRC/...: 'missing frame', 'clip ... is absent'), and the shards are the absolute SRC's, byte for byte."""
    write_rwavs(tmp_path / "release", {"1": {"source": [-1.0, 1.0, 0.5], "camera": [0.0, 0.0, 0.5],
                                             "yaw": lambda t: 40.0 * t}}, seconds=4)
    write_stereocrw_wild(tmp_path / "Youtube-Binaural",
                         {"I2dP8FmisJQ_1150_1160": [(5, 0, 0)], "lbTNvwGMyFQ_0070_0080": [(10, 3, 0)]})
    for name, src_name in (("rwavs", "release"), ("stereocrw-wild", "Youtube-Binaural")):
        rel = _prepare_relative(name, tmp_path, src_name, f"{name}-rel", "--option", "image_size=24x32")
        assert rel.returncode == 0, (name, rel.stderr[-2000:])
        absolute = simkit_prepare(name, tmp_path / src_name, tmp_path / f"{name}-abs", "--option", "image_size=24x32")
        assert absolute.returncode == 0, (name, absolute.stderr[-2000:])
        shards = _shard_bytes(tmp_path / f"{name}-rel")
        assert shards and shards == _shard_bytes(tmp_path / f"{name}-abs"), name


def test_adapter_scan_from_the_api_takes_a_relative_src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An adapter used directly (not through prepare) makes SRC absolute itself."""
    from simkit.data.adapters import CommonOptions, get_adapter, parse_options

    write_rwavs(tmp_path / "release", {"1": {"source": [-1.0, 1.0, 0.5], "camera": [0.0, 0.0, 0.5],
                                             "yaw": lambda t: 40.0 * t}}, seconds=4)
    monkeypatch.chdir(tmp_path)
    cls = get_adapter("rwavs")
    plan = cls(parse_options(cls, {"image_size": "24x32"}), CommonOptions()).scan(Path("release"))
    assert [u.shard_id for u in plan.units] == ["1"]
    assert Path(plan.units[0].payload["dir"]) == tmp_path / "release" / "1"


def test_prepare_and_render_share_one_sample_rate_range() -> None:
    """prepare's --sample-rate bounds are config's, the ones a render config is checked against."""
    from simkit.audio import config
    from simkit.data import prepare

    assert (prepare.MIN_SAMPLE_RATE, prepare.MAX_SAMPLE_RATE) == (config.MIN_SAMPLE_RATE, config.MAX_SAMPLE_RATE)
    assert prepare.MIN_SAMPLE_RATE is config.MIN_SAMPLE_RATE and prepare.MAX_SAMPLE_RATE is config.MAX_SAMPLE_RATE


def test_video_folder_clip_ids_and_shard_ids_follow_one_naming_rule(tmp_path: Path) -> None:
    """walk.mkv (mono, refused) still shares walk.mp4's stem: its clips and its shard are both named
    walk.mp4 (before the fix the clips were walk.mp4@0 in shard walk)."""
    from simkit.video.io import write_video

    src = _video_folder(tmp_path, {"walk.mp4": 3.0, "other.mp4": 3.0},
                        ["walk.mp4,0,3,90", "walk.mkv,0,3,-90", "other.mp4,0,3,45"])
    mono = np.random.default_rng(1).standard_normal(3 * 16000).astype(np.float32) * 0.1
    write_video(src / "videos" / "walk.mkv", np.full((15, 48, 64, 3), 60, np.uint8), 5,
                np.stack([mono, mono]), 16000)
    out = tmp_path / "out"
    proc = simkit_prepare("video-folder", src, out, *VF_OPTS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (out / "shards").glob("*.h5")) == ["other.h5", "walk.mp4.h5"]
    with h5py.File(out / "shards" / "walk.mp4.h5") as f:
        ids = [x.decode() if isinstance(x, bytes) else x for x in f["meta/set_id"][()].reshape(-1)]
    assert ids == ["walk.mp4@0:0", "walk.mp4@0:1", "walk.mp4@0:2"], ids
    manifest = (out / "manifest.json").read_text()
    assert "walk.mkv" in manifest and "mono audio" in manifest  # refused, with its reason
