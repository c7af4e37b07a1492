"""test_layout.py LAYOUT: the ctypes structures of python/cxr/_lib.py against the C compiler's
layout of their structs (tests/python/layout.c, run as LAYOUT): the same size, and every field
at the same offset, of the same size and kind (float, int, int64, uint64, pointer), by name. A
field added to one side only (or in another place) shifts the fields after it or changes the
size, and ctypes then reads garbage with no error; one added to C in the struct's trailing
padding is seen only once layout.c lists it."""
import ctypes
import subprocess
import sys

from cxr import _lib  # PYTHONPATH=python

KINDS = {ctypes.c_float: "f", ctypes.c_int: "i", ctypes.c_int64: "q", ctypes.c_uint64: "Q",
         ctypes.c_void_p: "p"}


def kind(t):
    """A ctypes field type's kind, as layout.c names its C type's."""
    if t in KINDS:
        return KINDS[t]
    return "p" if issubclass(t, ctypes._Pointer) else "?"


out = subprocess.run([sys.argv[1]], capture_output=True, text=True, check=True).stdout
c_size, c_fields = {}, {}
for line in out.splitlines():
    name, field, value = line.split()
    if field == "sizeof":  # (a struct may have a field named size)
        c_size[name] = int(value)
    else:
        c_fields.setdefault(name, {})[field] = value

failures = []
for name in sorted(c_size):
    cls = getattr(_lib, name)
    py_fields = {f: "%d:%d:%s" % (getattr(cls, f).offset, getattr(cls, f).size, kind(t))
                 for f, t in cls._fields_}
    if ctypes.sizeof(cls) != c_size[name]:
        failures.append("%s: ctypes size %d, C %d" % (name, ctypes.sizeof(cls), c_size[name]))
    if py_fields != c_fields[name]:
        failures.append("%s: fields differ: ctypes %s, C %s" % (name, py_fields, c_fields[name]))
for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print("%d structs compared" % len(c_size))
sys.exit(1 if failures else 0)
