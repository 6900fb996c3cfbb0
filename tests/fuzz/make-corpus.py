#!/usr/bin/env python3
"""Seeds tests/fuzz/corpus from the committed interop vectors (ilp-packet@3.1.3, btp-packet@2.2.1).

Run from the repository root: python3 tests/fuzz/make-corpus.py
ilp/  valid ILP packets (small ones: < 2 KB) and the inputs ilp-packet refuses
btp/  valid BTP frames
ildcp/ ILDCP response data (from the peer.config fulfill vectors)
Files found by fuzzing later go next to them, named finding-<what>.bin.
"""
import json, os

root = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(root, 'corpus')

def write(kind, name, hexstr):
    os.makedirs(os.path.join(out, kind), exist_ok=True)
    with open(os.path.join(out, kind, name + '.bin'), 'wb') as f:
        f.write(bytes.fromhex(hexstr))

core = os.path.join(root, '..', 'M2M.Core.Tests', 'Fixtures')
for v in json.load(open(os.path.join(core, 'ilp-packet-vectors.json'))):
    if len(v['hex']) < 4000:
        write('ilp', 'valid-' + v['name'], v['hex'])
    if 'ildcp' in v['name'] and v.get('type') == 'fulfill' and len(v.get('data', '')) > 0:
        write('ildcp', v['name'], v['data'])
for v in json.load(open(os.path.join(core, 'ilp-packet-invalid.json'))):
    write('ilp', 'invalid-' + v['name'], v['hex'])
btp = os.path.join(root, '..', 'M2M.Btp.Tests', 'Fixtures', 'btp-packet-vectors.json')
for v in json.load(open(btp))['vectors']:
    write('btp', v['name'], v['hex'])
