#!/usr/bin/env python3
"""Symbol-doc coverage per target, from the symbol graphs the last Scripts/docs.sh run extracted
(.build/<triple>/extracted-symbols): the public declarations written in this package
(Sources/, and the generated sources under .build/plugins/outputs), and how many have a doc
comment with an abstract of their own (a first sentence, not only `- Parameters:`); how many
have only the one of the protocol requirement they implement (`init(from:)`, `description`,
`==` from Swift; a `Transport` or `RuntimeInstrumentation` method from ARCP); and how many
have neither.

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
            first = next((l['text'].strip() for l in doc['lines'] if l['text'].strip()), '') if doc else ''
            # An abstract: a first line that is not a `- Parameters:`/`- Throws:` callout.
            has_abstract = bool(first) and not first.startswith('- ')
            module = doc.get('module', target) if doc else None
            if has_abstract and module == target:
                state = 'own'
            elif has_abstract:
                # From the protocol requirement it implements: in another module of this
                # package (DocC shows it only with --enable-inherited-docs), or in Swift,
                # Foundation, ...
                state = 'inherited'
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
    print('| Target | public declarations | own doc comment | inherited from the protocol requirement | no abstract |')
    print('|---|---|---|---|---|')
    for r in rows:
        print(f'| {r[0]} | {r[1]} | {r[2]} ({100*r[2]/r[1]:.0f}%) | {r[3]} | {r[4]} |')
