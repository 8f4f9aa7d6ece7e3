#!/usr/bin/env python3
"""Copy ../shared/refvectors into tests/data, keeping only what the tests read.

The reference vectors come from an independent implementation (see
REFVECTORS.md, copied from the source folder).  This script only drops
fields the tests never read (llama.cpp's full logit matrices and top-20
lists) to keep the repository small; every number kept is unchanged.
The F32 model is stored xz-compressed; the build decompresses it.
Run from the top of the tree: tests/data/strip-refvec.py ../shared/refvectors
"""
import json, os, shutil, subprocess, sys

src = sys.argv[1]
dst = os.path.dirname(os.path.abspath(__file__))
for name in sorted(os.listdir(src)):
    p = os.path.join(src, name)
    if name.endswith('.gguf'):
        if name.endswith('-f32.gguf'):
            with open(os.path.join(dst, name + '.xz'), 'wb') as f:
                subprocess.run(['xz', '-9', '-c', p], stdout=f, check=True)
        else:
            shutil.copyfile(p, os.path.join(dst, name))
    elif name.endswith('.dequant.json') or name.endswith('.config.json') \
            or name.endswith('.manifest.json'):
        shutil.copyfile(p, os.path.join(dst, name))
    elif name.endswith('.json'):
        d = json.load(open(p))
        for s in d['sequences']:
            lc = s['llamacpp']
            s['llamacpp'] = {k: lc[k] for k in ('argmax', 'greedy', 'llama_version')}
        with open(os.path.join(dst, name), 'w') as f:
            json.dump(d, f, separators=(',', ':'))
    elif name == 'README.md':
        shutil.copyfile(p, os.path.join(dst, 'REFVECTORS.md'))
