"""Write the protobuf schema of the Envoy resources the lab serves over xDS.

Reads the generated modules of PyPI `xds-protos` (each carries its .proto file as a serialized
FileDescriptorProto in `AddSerializedFile(b'...')`), takes the files the roots need and every
file they import, and writes them as a FileDescriptorSet in dependency order. The
google/protobuf well-known types are left out: the reader has them built in.

usage: descriptors.py SITE_PACKAGES OUT ROOT.proto...
"""
import ast
import os
import sys


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def dependencies(fdp):
    """Field 3 of FileDescriptorProto: the files it imports."""
    out, i = [], 0
    while i < len(fdp):
        key, i = varint(fdp, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = varint(fdp, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = varint(fdp, i)
            if field == 3:
                out.append(fdp[i:i + n].decode())
            i += n
        else:
            raise ValueError(f"wire type {wire} in a FileDescriptorProto")
    return out


def serialized(site, proto):
    path = os.path.join(site, proto[:-len(".proto")] + "_pb2.py")
    try:
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
    except FileNotFoundError:
        sys.exit(f"descriptors.py: {proto} is not in xds-protos ({path} missing)")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile"
                and node.args and isinstance(node.args[0], ast.Constant)):
            return node.args[0].value
    sys.exit(f"descriptors.py: no AddSerializedFile in {path}")


def main():
    site, out, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
    ordered, seen = [], set()

    def visit(proto):
        if proto in seen or proto.startswith("google/protobuf/"):
            return
        seen.add(proto)
        fdp = serialized(site, proto)
        for dep in dependencies(fdp):
            visit(dep)
        ordered.append(fdp)

    for root in roots:
        visit(root)
    with open(out, "wb") as f:
        for fdp in ordered:
            n, head = len(fdp), bytearray([0x0A])
            while True:
                if n < 0x80:
                    head.append(n)
                    break
                head.append((n & 0x7F) | 0x80)
                n >>= 7
            f.write(head + fdp)


main()
