"""Read a networkx graph pickle (SoundSpaces 1.0's ``graph.pkl``) as data only: nothing in the file runs.

``pickle.load`` calls whatever the file names, so a hostile ``graph.pkl`` could run any code. This reader is
the pure-Python unpickler with every opcode that calls something restricted:

* ``GLOBAL``/``STACK_GLOBAL`` resolve only the names a networkx graph of plain data needs: the networkx
  graph and view classes, ``builtins`` containers, numpy's array/scalar/dtype reconstructors and the two
  helpers older protocols use (``copyreg._reconstructor``, ``_codecs.encode``). Anything else (``os.system``,
  ``builtins.eval``, a dotted attribute path) is refused before it is looked up.
* ``REDUCE`` calls only the wrappers below, which check their arguments (numpy arrays are capped in size,
  dtypes must be plain numeric or object dtypes, ``_codecs.encode`` only re-encodes latin-1 text).
* networkx classes are created empty with ``object.__new__`` (never their ``__init__``, ``__new__`` or
  ``__setstate__``, which dispatch to backends or convert data) and filled by ``BUILD`` with plain attribute
  assignment; ``BUILD`` on a class or function (which would patch it for the whole process) is refused.
* ``INST``/``OBJ`` (protocol 0/1 calls of arbitrary classes) and persistent ids are refused.

Memory stays bounded by the file: the caller caps the file size, and an array may not declare more than
:data:`MAX_ARRAY_BYTES`.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

MAX_ARRAY_BYTES = 64 * 1024 * 1024
_PLAIN_KINDS = "biufcSUO"  # bool, ints, floats, complex, strings, object (object arrays hold only unpickled data)


class UnsafePickle(pickle.UnpicklingError):
    """The pickle names or calls something a plain networkx graph does not hold."""


def _networkx_classes() -> dict[tuple[str, str], type]:
    import networkx.classes.coreviews as cv
    import networkx.classes.reportviews as rv
    from networkx.classes import digraph, graph, multidigraph, multigraph

    out: dict[tuple[str, str], type] = {
        ("networkx.classes.graph", "Graph"): graph.Graph,
        ("networkx.classes.digraph", "DiGraph"): digraph.DiGraph,
        ("networkx.classes.multigraph", "MultiGraph"): multigraph.MultiGraph,
        ("networkx.classes.multidigraph", "MultiDiGraph"): multidigraph.MultiDiGraph,
    }
    # cached views (G.nodes, G.edges, G.adj, G.degree) land in a pickled graph's __dict__; the filter views,
    # which hold callables, are left out
    for mod, names in ((rv, ("NodeView", "NodeDataView", "DiDegreeView", "DegreeView", "OutDegreeView",
                             "InDegreeView", "MultiDegreeView", "DiMultiDegreeView", "OutMultiDegreeView",
                             "InMultiDegreeView", "OutEdgeDataView", "EdgeDataView", "InEdgeDataView",
                             "OutMultiEdgeDataView", "MultiEdgeDataView", "InMultiEdgeDataView", "OutEdgeView",
                             "EdgeView", "InEdgeView", "OutMultiEdgeView", "MultiEdgeView", "InMultiEdgeView")),
                       (cv, ("AtlasView", "AdjacencyView", "MultiAdjacencyView"))):
        for name in names:
            cls = getattr(mod, name, None)
            if isinstance(cls, type):
                out[(mod.__name__, name)] = cls
    return out


def _checked_dtype(dt: Any) -> np.dtype:
    if not isinstance(dt, np.dtype) or dt.kind not in _PLAIN_KINDS or dt.fields is not None or dt.subdtype:
        raise UnsafePickle(f"array dtype {dt!r} is not a plain numeric, string or object dtype")
    return dt


def _dtype(obj: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """``numpy.dtype`` for the type codes numpy pickles (``'f8'``, ``'i8'``, ``'O8'``, ...), nothing else."""
    if not isinstance(obj, str) or len(obj) > 8 or not obj.isalnum():
        raise UnsafePickle(f"numpy dtype {obj!r} is not a plain type code")
    return _checked_dtype(np.dtype(obj, bool(align), bool(copy)))


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's array reconstructor for a plain ndarray of at most :data:`MAX_ARRAY_BYTES`."""
    if subtype is not np.ndarray:
        raise UnsafePickle(f"array type {subtype!r} is not numpy.ndarray")
    if isinstance(dtype, bytes):  # numpy pickles the placeholder dtype as b'b'
        dtype = dtype.decode("latin-1")
    dt = np.dtype(dtype) if isinstance(dtype, str) and dtype.isalnum() and len(dtype) <= 8 else dtype
    _checked_dtype(dt)
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(isinstance(d, int) and d >= 0 for d in dims):
        raise UnsafePickle(f"array shape {shape!r} is not non-negative integers")
    n = 1
    for d in dims:
        n *= d
    if n * max(dt.itemsize, 1) > MAX_ARRAY_BYTES:
        raise UnsafePickle(f"array of shape {shape!r} is larger than {MAX_ARRAY_BYTES} bytes")
    return np.ndarray.__new__(np.ndarray, dims, dt)


def _scalar(dtype: Any, data: Any = None) -> Any:
    """numpy's scalar reconstructor (``np.float64(1.5)`` pickles through it)."""
    dt = _checked_dtype(dtype)
    if dt.kind == "O":
        return data  # an object scalar is the (already unpickled) object itself
    if not isinstance(data, bytes) or len(data) != dt.itemsize:
        raise UnsafePickle(f"numpy scalar of dtype {dt} does not hold {dt.itemsize} bytes")
    return np.frombuffer(data, dt)[0]


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    """numpy's protocol-5 array reconstructor: an array over the raw bytes the pickle holds."""
    dt = _checked_dtype(dtype)
    if dt.kind == "O" or not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or order not in ("C", "F"):
        raise UnsafePickle("numpy _frombuffer of an object dtype or a non-bytes buffer")
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(isinstance(d, int) and d >= 0 for d in dims):
        raise UnsafePickle(f"array shape {shape!r} is not non-negative integers")
    return np.frombuffer(buf, dt).reshape(dims, order=order)


def _encode(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode``: protocol 2 pickles bytes as latin-1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle("_codecs.encode is allowed only for latin-1 text")
    return text.encode("latin-1")


def _container(kind: type):
    def make(items: Any = ()) -> Any:
        if not isinstance(items, (list, tuple)):
            raise UnsafePickle(f"{kind.__name__}() of a {type(items).__name__}")
        return kind(items)

    make.__name__ = kind.__name__
    return make


_SET, _FROZENSET = _container(set), _container(frozenset)


class GraphUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcodes can be overridden
    """See the module docstring."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: io.BufferedIOBase) -> None:
        super().__init__(file)
        self._classes = _networkx_classes()
        reconstructor = self._reconstructor
        self._globals: dict[tuple[str, str], Any] = {
            **self._classes,
            ("builtins", "object"): object, ("__builtin__", "object"): object,
            ("builtins", "set"): _SET, ("__builtin__", "set"): _SET,
            ("builtins", "frozenset"): _FROZENSET, ("__builtin__", "frozenset"): _FROZENSET,
            # networkx 2 keeps its dict factories in each graph's __dict__: the type is a value there
            ("builtins", "dict"): dict, ("__builtin__", "dict"): dict,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): _dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy.core.multiarray", "scalar"): _scalar,
            ("numpy._core.multiarray", "scalar"): _scalar,
            ("numpy.core.numeric", "_frombuffer"): _frombuffer,
            ("numpy._core.numeric", "_frombuffer"): _frombuffer,
            ("_codecs", "encode"): _encode,
            ("copyreg", "_reconstructor"): reconstructor, ("copy_reg", "_reconstructor"): reconstructor,
        }
        self._callable = {id(f): f for f in (_SET, _FROZENSET, _dtype, _reconstruct, _scalar, _frombuffer, _encode,
                                             reconstructor)}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._globals[(module, name)]
        except KeyError:
            raise UnsafePickle(f"it names {module}.{name}, which a networkx graph of plain data does not hold; "
                               "refused, nothing from it was run") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle("it holds a persistent id; refused")

    def _reconstructor(self, cls: Any, base: Any, state: Any = None) -> Any:
        """``copyreg._reconstructor`` (protocols 0 and 1) for a networkx class on ``object`` only."""
        if base is not object or state is not None or not self._is_class(cls):
            raise UnsafePickle(f"copyreg._reconstructor({cls!r}, {base!r}) is not an empty networkx object")
        return object.__new__(cls)

    def _is_class(self, cls: Any) -> bool:
        return isinstance(cls, type) and any(cls is c for c in self._classes.values())

    # ---- the opcodes that call something

    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if self._callable.get(id(func)) is not func or not isinstance(args, tuple):
            raise UnsafePickle(f"it calls {getattr(func, '__name__', type(func).__name__)}; refused")
        stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _new(self, cls: Any, args: Any, kwargs: Any = None) -> None:
        if not self._is_class(cls) or args != () or kwargs:
            raise UnsafePickle(f"it creates {cls!r}{args!r}; only empty networkx graphs and views are allowed")
        self.append(object.__new__(cls))

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._new(cls, args)

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._new(cls, args, kwargs)

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_refused(self) -> None:
        raise UnsafePickle("it calls a class with the INST/OBJ opcodes; refused")

    dispatch[pickle.INST[0]] = load_refused
    dispatch[pickle.OBJ[0]] = load_refused

    def load_build(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if isinstance(inst, np.dtype) or type(inst) is np.ndarray:
            if not isinstance(state, tuple):
                raise UnsafePickle(f"{type(inst).__name__} state is not a tuple")
            inst.__setstate__(state)  # numpy's own C setstate: byte order, shape, raw data; no code
            if isinstance(inst, np.dtype):
                _checked_dtype(inst)
            return
        if not any(type(inst) is c for c in self._classes.values()):
            raise UnsafePickle(f"it sets the state of a {type(inst).__name__}; refused")
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        for part in (state, slots):
            if part is None:
                continue
            if not isinstance(part, dict) or not all(isinstance(k, str) for k in part):
                raise UnsafePickle("object state is not a dict of names")
        if state:
            if hasattr(inst, "__dict__"):
                inst.__dict__.update(state)
            else:  # a view with __slots__ (its __getstate__ returned a dict of slots)
                slots = {**state, **(slots or {})}
        for k, v in (slots or {}).items():
            object.__setattr__(inst, k, v)

    dispatch[pickle.BUILD[0]] = load_build


def load_graph(data: bytes) -> Any:
    """The networkx graph pickled in ``data``, restored as data only (see the module docstring);
    :class:`UnsafePickle` if it names or calls anything else, other pickle errors if it is corrupt."""
    obj = GraphUnpickler(io.BytesIO(data)).load()
    if not any(type(obj) is c for c in _networkx_classes().values() if c.__name__.endswith("Graph")):
        raise UnsafePickle(f"it holds a {type(obj).__name__}, not a networkx graph")
    return obj


def graph_nodes(graph: Any) -> dict[Any, dict]:
    """Node -> attribute dict of an unpickled graph, read from its stored data (networkx 1.x ``node`` or
    2.x/3.x ``_node``), never through networkx methods."""
    state = vars(graph)
    nodes = state.get("_node", state.get("node"))
    if not isinstance(nodes, dict) or not all(isinstance(v, dict) for v in nodes.values()):
        raise UnsafePickle("its node table is not a dict of attribute dicts")
    return nodes
