#!/usr/bin/env python3
"""Symbol-doc coverage per target, from the symbol graphs the last Scripts/docs.sh run extracted
(.build/<triple>/extracted-symbols): the public declarations written in this package
(Sources/, and the generated sources under .build/plugins/outputs), and how many have a doc
comment of their own or from a protocol of this package. "Inherited from Swift/Foundation only"
are conformances documented by the standard protocol they implement (`init(from:)`,
`encode(to:)`, `description`, `==`, ...).

    Scripts/docs-coverage.py .                  # the table (Markdown)
    Scripts/docs-coverage.py . --list ARCP      # ARCP's undocumented declarations, file:line
"""
import json, os, sys, glob, collections
root = os.path.abspath(sys.argv[1])
listing = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == '--list' else None
base = glob.glob(os.path.join(root, '.build/*/extracted-symbols/*'))[0]
rows = []
for tdir in sorted(glob.glob(base + '/*')):
    target = os.path.basename(tdir)
    seen = {}
    for f in glob.glob(tdir + '/*.symbols.json'):
        for s in json.load(open(f))['symbols']:
            if s['accessLevel'] not in ('public', 'open'): continue
            loc = s.get('location', {}).get('uri', '')
            rel = loc.replace('file://' + root + '/', '')
            if not (rel.startswith('Sources/') or rel.startswith('.build/plugins/outputs/')): continue
            if s['kind']['identifier'] in ('swift.extension',): continue
            pid = s['identifier']['precise']
            doc = s.get('docComment')
            text = ' '.join(l['text'] for l in doc['lines']).strip() if doc else ''
            uri = doc.get('uri', '') if doc else ''
            if text and (uri.startswith('file://' + root + '/') or doc.get('module') == target):
                state = 'own'
            elif text:
                state = 'inherited'   # from a protocol outside the package (Swift, Foundation, …)
            else:
                state = 'none'
            gen = '/.build/' in loc
            seen[pid] = (state, gen, s['kind']['identifier'], '.'.join(s['pathComponents']), loc.replace('file://' + root + '/', '') + ':' + str(s['location']['position']['line'] + 1))
    c = collections.Counter()
    for st, gen, k, p, l in seen.values():
        c[('gen' if gen else 'src', st)] += 1
    for part in ('src', 'gen'):
        total = sum(v for (g, _), v in c.items() if g == part)
        if total == 0: continue
        own, inh, none = c[(part, 'own')], c[(part, 'inherited')], c[(part, 'none')]
        rows.append((target + (' (generated)' if part == 'gen' else ''), total, own, inh, none))
    if listing == target:
        for st, gen, k, p, l in sorted(seen.values(), key=lambda x: x[4]):
            if st == 'none': print(f'{l}\t{k}\t{p}')
if not listing:
    print('| Target | public declarations | documented | inherited from Swift/Foundation only | undocumented |')
    print('|---|---|---|---|---|')
    for r in rows:
        print(f'| {r[0]} | {r[1]} | {r[2]} ({100*r[2]/r[1]:.0f}%) | {r[3]} | {r[4]} |')
