#!/usr/bin/env python3
"""The module graph inside each crate of the workspace (src/, crates/*/src/): which module
imports which (`crate::` and `super::` paths outside comments and test modules). Exits 1 if two
files import each other or the top-level modules form a cycle, so the one-way rule of
docs/architecture.md is checked, not hoped for. Between crates Cargo enforces the direction
(a crate cannot name one that does not depend on it). `--print` also prints each graph."""
import glob
import re
import sys


def module_of(root, f):
    m = f[len(root) + 1:-3]
    if m.endswith('/mod'):
        m = m[:-4]
    return m


def edges_of(root):
    mods = {module_of(root, f): f for f in glob.glob(root + '/**/*.rs', recursive=True)}

    def resolve(path):
        parts = path.split('::')
        for i in range(len(parts), 0, -1):  # the longest prefix that is a module
            cand = '/'.join(parts[:i])
            if cand in mods:
                return cand
        return None

    edges = {}
    for m, f in mods.items():
        t = open(f).read()
        t = re.split(r'#\[cfg\(test\)\]\s*mod tests', t)[0]
        t = '\n'.join(l for l in t.split('\n') if not l.strip().startswith('//'))
        # `use crate::{a, b::C}` names a and b too.
        t = re.sub(r'(crate|super)::\{([^{}]*)\}',
                   lambda m: ' '.join(m.group(1) + '::' + p.strip() for p in m.group(2).split(',') if p.strip()),
                   t)
        deps = set()
        for mm in re.findall(r'crate::((?:[a-z_]+::)*[a-z_A-Z]+)', t):
            r = resolve(mm)
            if r and r != m:
                deps.add(r)
        parent = m.rsplit('/', 1)[0] if '/' in m else ''
        for mm in re.findall(r'super::((?:[a-z_]+::)*[a-z_A-Z]+)', t):
            r = resolve((parent.replace('/', '::') + '::' + mm).strip(':'))
            if r and r != m:
                deps.add(r)
        edges[m] = deps
    return edges


def cycles(g):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in list(g):
        if v not in index:
            visit(v)
    return found


def check(root):
    edges = edges_of(root)
    pairs = sorted({tuple(sorted((a, b))) for a, ds in edges.items() for b in ds if a in edges.get(b, ())})
    top = {}
    for a, ds in edges.items():
        for b in ds:
            ta, tb = a.split('/')[0], b.split('/')[0]
            if ta != tb:
                top.setdefault(ta, set()).add(tb)
    found = cycles(top)
    print(f"== {root}: mutual imports (file level): {pairs}; top-level cycles: {found}")
    if '--print' in sys.argv:
        for a in sorted(top):
            print('  ', a, '->', sorted(top[a]))
    return bool(pairs or found)


if __name__ == '__main__':
    failed = False
    for root in ['src'] + sorted(glob.glob('crates/*/src')):
        failed = check(root) or failed
    sys.exit(1 if failed else 0)
