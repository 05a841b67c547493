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
  assignment of the attribute names networkx 1.x-3.x graphs and views have (a key such as ``append`` would
  make a later opcode call what it holds); ``BUILD`` on a class or function (which would patch it for the
  whole process) is refused.
* numpy's own ``__setstate__`` is never called (it trusts its input: an object array whose list is shorter
  than its shape makes it read past the list, a crash): ``BUILD`` of an array or dtype parses the state here
  and replaces the object with a new one built from checked bytes, a dtype's state must be numpy's own for
  that type code.
* ``APPEND``/``APPENDS``/``ADDITEMS``/``SETITEM(S)`` act only on a builtin list, set or dict, never through
  a method looked up on whatever object is on the stack.
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
    return np.zeros(dims, dt)  # a placeholder: BUILD replaces it with the array its state describes


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


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``: protocols 0-2 pickle an empty bytes object as that call (an empty array's data)."""
    if args:
        raise UnsafePickle("bytes() is allowed only without arguments")
    return b""


def _container(kind: type):
    def make(items: Any = ()) -> Any:
        if not isinstance(items, (list, tuple)):
            raise UnsafePickle(f"{kind.__name__}() of a {type(items).__name__}")
        return kind(items)

    make.__name__ = kind.__name__
    return make


_SET, _FROZENSET = _container(set), _container(frozenset)


_SCALAR_TYPES = (bool, int, float, complex, str, bytes, type(None), np.bool_, np.number)

# instance attributes of networkx 1.x (node, adj, edge, pred, succ, *_factory), 2.x (_node, _adj, ..., the
# cached views) and 3.x (__networkx_cache__) graphs: a BUILD may set these and nothing else
_GRAPH_DATA_KEYS = frozenset({"graph", "node", "_node", "adj", "_adj", "edge", "pred", "succ", "_pred", "_succ",
                              "__networkx_cache__"})
_GRAPH_FACTORY_KEYS = frozenset({"node_dict_factory", "node_attr_dict_factory", "adjlist_dict_factory",
                                 "adjlist_outer_dict_factory", "adjlist_inner_dict_factory", "edge_attr_dict_factory",
                                 "graph_attr_dict_factory", "edge_key_dict_factory"})
_GRAPH_VIEW_KEYS = frozenset({"nodes", "edges", "adj", "degree", "succ", "pred", "in_edges", "out_edges", "in_degree",
                              "out_degree"})

# the degree views (networkx 2.x/3.x) keep their data in a __dict__, the other views in __slots__
_VIEW_DICT_KEYS = frozenset({"_graph", "_succ", "_pred", "_nodes", "_weight"})


def _shape(shape: Any) -> tuple[int, ...]:
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(type(d) is int and d >= 0 for d in dims) or len(dims) > 32:
        raise UnsafePickle(f"array shape {shape!r:.80} is not non-negative integers")
    return dims


def _array_from_state(state: Any) -> np.ndarray:
    """A new array from numpy's pickled array state ``([version,] shape, dtype, is_fortran, data)``, parsed
    here (numpy's ``__setstate__`` is never called): raw bytes of exactly the declared size for a plain
    dtype, a list of exactly ``prod(shape)`` plain scalars for an object dtype."""
    if not isinstance(state, tuple) or len(state) not in (4, 5) or (len(state) == 5 and state[0] != 1):
        raise UnsafePickle("array state is not numpy's (version, shape, dtype, is_fortran, data)")
    shape, dt, fortran, data = state[-4:]
    dims = _shape(shape)
    _checked_dtype(dt)
    if type(fortran) not in (bool, int):
        raise UnsafePickle("array state's is_fortran is not a flag")
    order = "F" if fortran else "C"
    n = 1
    for d in dims:
        n *= d
    if n * max(dt.itemsize, 1) > MAX_ARRAY_BYTES:
        raise UnsafePickle(f"array of shape {dims!r} is larger than {MAX_ARRAY_BYTES} bytes")
    if dt.kind == "O":
        if type(data) is not list or len(data) != n or not all(isinstance(v, _SCALAR_TYPES) for v in data):
            raise UnsafePickle(f"object array of {n} elements does not hold a list of {n} plain scalars")
        out = np.empty(n, dtype=object)
        for i, v in enumerate(data):
            out[i] = v
        return out.reshape(dims, order=order)
    if not isinstance(data, (bytes, bytearray)) or len(data) != n * dt.itemsize:
        raise UnsafePickle(f"array of shape {dims!r} and dtype {dt} does not hold {n * dt.itemsize} bytes")
    return np.frombuffer(bytes(data), dt).reshape(dims, order=order).copy()


def _dtype_from_state(dt: np.dtype, state: Any) -> np.dtype:
    """``dt`` in the byte order its pickled ``state`` names, if the state is numpy's own for ``dt``'s type
    code (flags, sizes and fields included): a state that sets other flags would break numpy internally."""
    want = np.dtype(dt.str).__reduce__()[2]
    if not (isinstance(state, tuple) and len(state) == len(want) and len(state) > 1
            and state[1] in ("<", ">", "|", "=") and state[:1] + state[2:] == want[:1] + want[2:]):
        raise UnsafePickle(f"dtype {dt.str} state {state!r:.120} is not numpy's own for that type")
    return _checked_dtype(dt if state[1] == want[1] else dt.newbyteorder(state[1]))


class _Memo(dict):
    """The unpickler's memo, remembering under which keys each array or dtype was stored, so that ``BUILD``
    can put the new object it makes there too."""

    def __init__(self) -> None:
        super().__init__()
        self.keys_of: dict[int, list[Any]] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(value) is np.ndarray or isinstance(value, np.dtype):
            self.keys_of.setdefault(id(value), []).append(key)
        super().__setitem__(key, value)


class GraphUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcodes can be overridden
    """See the module docstring."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: io.BufferedIOBase) -> None:
        super().__init__(file)
        self.memo = _Memo()
        self._classes = _networkx_classes()
        self._views = {c for c in self._classes.values() if not c.__name__.endswith("Graph")}
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
            ("builtins", "bytes"): _empty_bytes, ("__builtin__", "bytes"): _empty_bytes,
            ("copyreg", "_reconstructor"): reconstructor, ("copy_reg", "_reconstructor"): reconstructor,
        }
        self._callable = {id(f): f for f in (_SET, _FROZENSET, _dtype, _reconstruct, _scalar, _frombuffer, _encode,
                                             _empty_bytes, reconstructor)}

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

    def _replace(self, old: Any, new: Any) -> None:
        """Put ``new`` where ``old`` is: the top of the stack and the memo keys it was stored under."""
        self.stack[-1] = new
        for key in self.memo.keys_of.pop(id(old), ()):
            if self.memo.get(key) is old:
                self.memo[key] = new

    def _check_graph_state(self, inst: Any, state: dict) -> None:
        for k, v in state.items():
            if k in _GRAPH_FACTORY_KEYS:
                ok = v is dict
            elif k in _GRAPH_DATA_KEYS or k in _GRAPH_VIEW_KEYS:
                ok = type(v) is dict and k in _GRAPH_DATA_KEYS or type(v) in self._views
            else:
                ok = False
            if not ok:
                raise UnsafePickle(f"it sets {type(inst).__name__}.{k:.40} to a {type(v).__name__}, which a "
                                   "networkx graph does not hold; refused")

    def _check_view_state(self, inst: Any, state: dict) -> None:
        slots = _VIEW_DICT_KEYS | {s for c in type(inst).__mro__ for s in getattr(c, "__slots__", ())}
        for k, v in state.items():
            ok = k in slots and (isinstance(v, (*_SCALAR_TYPES, dict, list, tuple, set, frozenset))
                                 and not isinstance(v, type) or any(type(v) is c for c in self._classes.values()))
            if not ok:
                raise UnsafePickle(f"it sets {type(inst).__name__}.{k:.40} to a {type(v).__name__}, which a "
                                   "networkx view does not hold; refused")

    def load_build(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if type(inst) is np.ndarray:
            self._replace(inst, _array_from_state(state))
            return
        if isinstance(inst, np.dtype):
            self._replace(inst, _dtype_from_state(inst, state))
            return
        if not any(type(inst) is c for c in self._classes.values()):
            raise UnsafePickle(f"it sets the state of a {type(inst).__name__}; refused")
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        for part in (state, slots):
            if part is None:
                continue
            if type(part) is not dict or not all(type(k) is str for k in part):
                raise UnsafePickle("object state is not a dict of names")
        is_graph = type(inst).__name__.endswith("Graph")
        for part in (state, slots):
            if part:
                (self._check_graph_state if is_graph else self._check_view_state)(inst, part)
        if state:
            if hasattr(inst, "__dict__"):
                inst.__dict__.update(state)
            else:  # a view with __slots__ (its __getstate__ returned a dict of slots)
                slots = {**state, **(slots or {})}
        for k, v in (slots or {}).items():
            object.__setattr__(inst, k, v)

    dispatch[pickle.BUILD[0]] = load_build

    # ---- the opcodes that fill a container: only builtin ones, never a method looked up on the object

    def _container_on_stack(self, kind: type, opcode: str) -> Any:
        obj = self.stack[-1]
        if type(obj) is not kind:
            raise UnsafePickle(f"{opcode} on a {type(obj).__name__}, not a {kind.__name__}; refused")
        return obj

    def load_append(self) -> None:
        value = self.stack.pop()
        self._container_on_stack(list, "APPEND").append(value)

    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self) -> None:
        items = self.pop_mark()
        self._container_on_stack(list, "APPENDS").extend(items)

    dispatch[pickle.APPENDS[0]] = load_appends

    def load_additems(self) -> None:
        items = self.pop_mark()
        self._container_on_stack(set, "ADDITEMS").update(items)

    dispatch[pickle.ADDITEMS[0]] = load_additems

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._container_on_stack(dict, "SETITEM")[key] = value

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        items = self.pop_mark()
        d = self._container_on_stack(dict, "SETITEMS")
        if len(items) % 2:
            raise UnsafePickle("SETITEMS with a key and no value")
        for i in range(0, len(items), 2):
            d[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = load_setitems


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
