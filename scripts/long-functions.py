#!/usr/bin/env python3
"""Functions over 80 lines outside test modules, in every crate of the workspace (issue 19: a
function longer than a screen hides its steps). Prints each as LINES FILE NAME; exits 1 if any."""
import re,glob,sys
res=[]
for f in glob.glob('src/**/*.rs',recursive=True)+glob.glob('crates/*/src/**/*.rs',recursive=True):
    L=open(f).read().split('\n')
    intest=False
    i=0
    while i<len(L):
        line=L[i]
        if re.match(r'\s*#\[cfg\(test\)\]',line): break
        m=re.match(r'\s*(pub(\([a-z]+\))? )?(async )?(const )?fn (\w+)',line)
        if m:
            name=m.group(5); depth=0; start=i; started=False
            j=i
            while j<len(L):
                s=re.sub(r'"(\\.|[^"\\])*"','""',L[j]); s=re.sub(r"'.'","''",s); s=s.split('//')[0]
                depth+=s.count('{')-s.count('}')
                if '{' in s: started=True
                if started and depth<=0: break
                if not started and s.rstrip().endswith(';'): break
                j+=1
            n=j-start+1
            if n>80: res.append((n,f,name))
            i=j+1; continue
        i+=1
for n,f,name in sorted(res,reverse=True): print(n,f,name)
sys.exit(1 if res else 0)
