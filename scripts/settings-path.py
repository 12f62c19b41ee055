#!/usr/bin/env python3
"""Follows `sesame login`'s settings down the code (issue 19's measure of the shape): from the
CLI's login command, every call that hands on the login settings (a function with a
parameter of the settings types, `LoginSettings` and the `Common`, `OidcSettings` and
`DirectSettings` it holds, called with an argument that names the caller's settings), depth first in the
order the calls appear. Prints the path, then:
  - files entered: the distinct files the settings pass through;
  - re-entries: calls into a file the path had already left;
  - climbs: calls into a file above the caller, that is a module that imports the caller's
    module (directly or not) or is its parent (`mod.rs`).
A static reading by name (no type inference): a call is matched by its last path segment,
preferring the caller's own file, then the module the path names. It prints figures, it does
not judge them."""
import glob
import re
import sys

sys.path.insert(0, __import__('os').path.dirname(__file__))
graph = __import__('module-graph')

# The login settings and the settings objects they are made of.
TYPES = r'\b(LoginSettings|Common|OidcSettings|DirectSettings)\b'
ROOTS = {'src': 'sesame', 'crates/sesame-login/src': 'sesame-login'}
START = ('src/commands/login.rs', 'from_cli')


def strip(text):
    text = re.split(r'#\[cfg\(test\)\]\s*mod tests', text)[0]
    return '\n'.join(l for l in text.split('\n') if not l.strip().startswith('//'))


def matching(text, i, open_c, close_c):
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_c:
            depth += 1
        elif text[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    return len(text)


def functions():
    """(file, name) -> (params, body) for every fn with a LoginSettings parameter."""
    found = {}
    for root in ROOTS:
        for f in glob.glob(root + '/**/*.rs', recursive=True):
            t = strip(open(f).read())
            for m in re.finditer(r'\bfn (\w+)\s*(<[^(]*>)?\s*\(', t):
                p_end = matching(t, m.end() - 1, '(', ')')
                params = t[m.end():p_end]
                b_start = t.find('{', p_end)
                if b_start < 0 or ';' in t[p_end:b_start]:
                    continue
                body = t[b_start:matching(t, b_start, '{', '}') + 1]
                names = [n for n, ty in re.findall(r'(\w+)\s*:\s*([^,]*)', params)
                         if re.search(TYPES, ty)]
                if names or (f, m.group(1)) == START:
                    found[(f, m.group(1))] = (body, names + ['settings'])
    return found


def module(f):
    for root in ROOTS:
        if f.startswith(root + '/'):
            return root, graph.module_of(root, f)
    return None, f


def above(caller, callee):
    """Whether callee's module is above caller's: it imports it (transitively) or is its parent."""
    (r1, a), (r2, b) = module(caller), module(callee)
    if r1 != r2:
        return r1 == 'crates/sesame-login/src'  # the library calling the CLI
    if '/' in a and a.rsplit('/', 1)[0] == b:
        return True
    edges = EDGES[r1]
    seen, todo = set(), [b]
    while todo:
        m = todo.pop()
        for d in edges.get(m, ()):
            if d == a:
                return True
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return False


def callees(fns, f, entry):
    body, names = entry
    out = []
    for m in re.finditer(r'((?:\w+::)*)(\w+)\s*(::<[^>]*>)?\(', body):
        full = m.group(1).rstrip(':').split('::')
        name, path = m.group(2), full[-1]
        root = 'crates/sesame-login/src/' if full[0] == 'sesame_login' else module(f)[0] + '/'

        args = body[m.end() - 1:matching(body, m.end() - 1, '(', ')') + 1]
        if not any(re.search(r'\b' + n + r'\b', args) for n in names):
            continue
        cands = [k for k in fns if k[1] == name and (not path or k[0].startswith(root))]
        if (f, name) in cands and not path:
            out.append((m.start(), (f, name)))
        elif full[0] in ('crate', 'sesame_login', 'super'):
            base = module(f)[1].rsplit('/', 1)[0] if full[0] == 'super' else ''
            mod = '/'.join(([base] if base else []) + full[1:])
            exact = [k for k in cands if k[0] in (root + mod + '.rs', root + mod + '/mod.rs')]
            if len(exact) == 1:
                out.append((m.start(), exact[0]))
        elif path:
            named = [k for k in cands if re.search(r'/' + path + r'(\.rs|/mod\.rs)$', k[0])]
            if len(named) == 1:
                out.append((m.start(), named[0]))
        elif len(cands) == 1:
            out.append((m.start(), cands[0]))
    return [k for _, k in sorted(out)]


def main():
    fns = functions()
    path, left, stats = [], set(), {'reentries': 0, 'climbs': 0}

    def walk(key, depth, stack):
        f = key[0]
        path.append(('  ' * depth) + f'{f}::{key[1]}')
        for callee in callees(fns, f, fns[key]):
            if callee in stack:
                continue
            if callee[0] != f:
                if callee[0] in left:
                    stats['reentries'] += 1
                if above(f, callee[0]):
                    stats['climbs'] += 1
                    path.append(('  ' * (depth + 1)) + f'(climb: {f} -> {callee[0]})')
            walk(callee, depth + 1, stack | {callee})
            if callee[0] != f:
                left.add(callee[0])

    walk(START, 0, {START})
    print('\n'.join(path))
    files = {p.strip().split('::')[0] for p in path if not p.strip().startswith('(')}
    print(f"\nfiles entered: {len(files)}; re-entries: {stats['reentries']}; climbs: {stats['climbs']}")


EDGES = {root: graph.edges_of(root) for root in ROOTS}
if __name__ == '__main__':
    main()
