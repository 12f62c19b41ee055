#!/usr/bin/env python3
"""The module graph of src/: which module imports which (`crate::` and `super::` paths outside
comments and test modules). Exits 1 if two files import each other or the top-level modules
form a cycle, so the one-way rule of docs/architecture.md is checked, not hoped for.
`--print` also prints the top-level graph."""
import re,os,glob,sys
files=glob.glob('src/**/*.rs',recursive=True)
mods={}
for f in files:
    m=f[4:-3]
    if m.endswith('/mod'): m=m[:-4]
    mods[m]=f
def resolve(path, cur):
    parts=path.split('::')
    # longest prefix matching a module
    for i in range(len(parts),0,-1):
        cand='/'.join(parts[:i])
        if cand in mods: return cand
    return None
edges={}
for m,f in mods.items():
    t=open(f).read()
    # strip test modules
    t=re.split(r'#\[cfg\(test\)\]\s*mod tests',t)[0]
    t='\n'.join(l for l in t.split('\n') if not l.strip().startswith('//'))
    deps=set()
    for mm in re.findall(r'crate::((?:[a-z_]+::)*[a-z_A-Z]+)',t):
        r=resolve(mm,m)
        if r and r!=m: deps.add(r)
    for mm in re.findall(r'super::((?:[a-z_]+::)*[a-z_A-Z]+)',t):
        parent=m.rsplit('/',1)[0] if '/' in m else ''
        if f.endswith('mod.rs'):
            parent=m.rsplit('/',1)[0] if '/' in m else ''
        r=resolve((parent.replace('/','::')+'::'+mm).strip(':'),m)
        if r and r!=m: deps.add(r)
    # also `use self::`? and child mods via `mod x;` are ownership not deps
    edges[m]=deps
# top-level grouping
def top(m): return m.split('/')[0]
pairs=set()
for a,ds in edges.items():
    for b in ds:
        if a in edges.get(b,()):
            pairs.add(tuple(sorted((a,b))))
print("mutual imports (file level):",sorted(pairs))
# top-level cycles via SCC
g={}
for a,ds in edges.items():
    for b in ds:
        ta,tb=top(a),top(b)
        if ta!=tb: g.setdefault(ta,set()).add(tb)
# tarjan
index={};low={};st=[];on=set();res=[];i=[0]
def sc(v):
    index[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
    for w in g.get(v,()):
        if w not in index: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],index[w])
    if low[v]==index[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        if len(comp)>1: res.append(comp)
for v in list(g): 
    if v not in index: sc(v)
print("top-level cycles:",res)
if '--print' in sys.argv:
    for a in sorted(g): print(a,'->',sorted(g[a]))

if pairs or res:
    sys.exit(1)
