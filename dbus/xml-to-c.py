#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Embeds the introspection XML as a C string, so the daemon answers Introspect from
# the very file that is the contract.
import sys

src, dst, name = sys.argv[1:4]
data = open(src, 'rb').read()
with open(dst, 'w') as out:
    out.write('/* Generated from %s; do not edit. */\n' % src.split('/')[-1])
    out.write('const char %s[] =\n' % name)
    for line in data.decode('utf-8').splitlines(True):
        esc = line.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')
        out.write('        "%s"\n' % esc)
    out.write(';\n')
