#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Generates the one table of the D-Bus contract from dbus/org.tlsid.Manager1.xml: every
# method's name, signatures and NoReply annotation, every signal's and every property's
# name and type, the bus name and object path, and the XML itself as a C string (the daemon answers Introspect from it). The daemon's
# dispatcher, libtlsid and the tests all use this table, so the XML is the single source.
#
# Usage: generate-interface.py XML OUT.c OUT-xml.c OUT.h BUS_NAME OBJECT_PATH
# (the XML goes in a file of its own, so that only the daemon links it)
import re
import sys
import xml.etree.ElementTree as ET

# Usage for an interface the daemon calls rather than serves (org.tlsid.Agent1):
# generate-interface.py --called PREFIX XML OUT.c OUT.h
# gives PREFIX_METHOD_* and PREFIX_methods[] (names, signatures, NoReply) alone.
if sys.argv[1] == '--called':
    prefix, src, out_c, out_h = sys.argv[2:6]
else:
    prefix = None
    src, out_c, out_xml_c, out_h, bus_name, object_path = sys.argv[1:7]
data = open(src, 'rb').read()
root = ET.fromstring(data)

# libdbus answers org.freedesktop.DBus.Peer itself, before any handler of ours.
SKIPPED = {'org.freedesktop.DBus.Peer'}
NO_REPLY = 'org.freedesktop.DBus.Method.NoReply'


def c_name(name):
    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', name).upper()


def c_string(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def annotated(element, name):
    return any(a.get('name') == name and a.get('value') == 'true'
               for a in element.findall('annotation'))


methods, signals, properties = [], [], []
for iface in root.findall('interface'):
    iname = iface.get('name')
    if iname in SKIPPED:
        continue
    for m in iface.findall('method'):
        ins = ''.join(a.get('type') for a in m.findall('arg') if a.get('direction', 'in') == 'in')
        outs = ''.join(a.get('type') for a in m.findall('arg') if a.get('direction') == 'out')
        methods.append((iname, m.get('name'), ins, outs, annotated(m, NO_REPLY)))
    for s in iface.findall('signal'):
        signals.append((iname, s.get('name'), ''.join(a.get('type') for a in s.findall('arg'))))
    for p in iface.findall('property'):
        # The daemon's Set refuses every property: a writable one would be a lie.
        if p.get('access') != 'read':
            sys.exit('%s: property %s: only access="read" is served' % (src, p.get('name')))
        properties.append((iname, p.get('name'), p.get('type')))

manager_iface = root.find('interface').get('name')
names = [c_name(m[1]) for m in methods] + [c_name(s[1]) for s in signals]
if len(set(names)) != len(names):
    sys.exit('%s: two members share a C name' % src)
if len({c_name(p[1]) for p in properties}) != len(properties):
    sys.exit('%s: two properties share a C name' % src)

header = src.split('/')[-1]
if prefix:
    up = prefix.upper()
    with open(out_h, 'w') as h:
        h.write('/* Generated from %s by generate-interface.py; do not edit. */\n' % header)
        h.write('/* The methods of %s, which the daemon calls. */\n#pragma once\n\n' % manager_iface)
        h.write('#include "interface.h"\n\n')
        h.write('#define %s_INTERFACE %s\n\n' % (up, c_string(manager_iface)))
        h.write('typedef enum {\n')
        for m in methods:
            h.write('        %s_METHOD_%s,\n' % (up, c_name(m[1])))
        h.write('        _%s_METHOD_MAX,\n} %sMethodId;\n\n' % (up, prefix.capitalize()))
        h.write('/* Indexed by %sMethodId. */\n' % prefix.capitalize())
        h.write('extern const MethodSpec %s_methods[_%s_METHOD_MAX];\n' % (prefix, up))
    with open(out_c, 'w') as c:
        c.write('/* Generated from %s by generate-interface.py; do not edit. */\n' % header)
        c.write('#include "%s"\n\n' % out_h.split('/')[-1])
        c.write('const MethodSpec %s_methods[_%s_METHOD_MAX] = {\n' % (prefix, up))
        for m in methods:
            c.write('        [%s_METHOD_%s] = { %s, %s, %s, %s, %s },\n'
                    % (up, c_name(m[1]), c_string(m[0]), c_string(m[1]), c_string(m[2]),
                       c_string(m[3]), 'true' if m[4] else 'false'))
        c.write('};\n')
    sys.exit(0)
with open(out_h, 'w') as h:
    h.write('/* Generated from %s by generate-interface.py; do not edit. */\n' % header)
    h.write('/* The D-Bus contract as one table: names and signatures of every method and\n'
            ' * signal, for the daemon, the library and the tests. */\n')
    h.write('#pragma once\n\n')
    h.write('#include <stdbool.h>\n\n')
    h.write('#define TLSID_BUS_NAME %s\n' % c_string(bus_name))
    h.write('#define TLSID_OBJECT_PATH %s\n' % c_string(object_path))
    h.write('#define TLSID_INTERFACE %s\n\n' % c_string(manager_iface))
    h.write('typedef enum {\n')
    for m in methods:
        h.write('        METHOD_%s,\n' % c_name(m[1]))
    h.write('        _METHOD_MAX,\n} MethodId;\n\n')
    h.write('typedef enum {\n')
    for s in signals:
        h.write('        SIGNAL_%s,\n' % c_name(s[1]))
    h.write('        _SIGNAL_MAX,\n} SignalId;\n\n')
    h.write('typedef enum {\n')
    for p in properties:
        h.write('        PROPERTY_%s,\n' % c_name(p[1]))
    h.write('        _PROPERTY_MAX,\n} PropertyId;\n\n')
    h.write('typedef struct {\n'
            '        const char *interface;\n'
            '        const char *name;\n'
            '        const char *in_signature;\n'
            '        const char *out_signature;\n'
            '        bool no_reply; /* annotated org.freedesktop.DBus.Method.NoReply */\n'
            '} MethodSpec;\n\n')
    h.write('typedef struct {\n'
            '        const char *interface;\n'
            '        const char *name;\n'
            '        const char *signature;\n'
            '} SignalSpec;\n\n')
    h.write('/* Every property is read-only (access="read"). */\n'
            'typedef struct {\n'
            '        const char *interface;\n'
            '        const char *name;\n'
            '        const char *signature;\n'
            '} PropertySpec;\n\n')
    h.write('/* Indexed by MethodId, SignalId and PropertyId. */\n')
    h.write('extern const MethodSpec interface_methods[_METHOD_MAX];\n')
    h.write('extern const SignalSpec interface_signals[_SIGNAL_MAX];\n')
    h.write('extern const PropertySpec interface_properties[_PROPERTY_MAX];\n\n')
    h.write('/* The introspection XML, byte for byte. */\n')
    h.write('extern const char interface_xml[];\n')

with open(out_c, 'w') as c:
    c.write('/* Generated from %s by generate-interface.py; do not edit. */\n' % header)
    c.write('#include "%s"\n\n' % out_h.split('/')[-1])
    c.write('const MethodSpec interface_methods[_METHOD_MAX] = {\n')
    for m in methods:
        c.write('        [METHOD_%s] = { %s, %s, %s, %s, %s },\n'
                % (c_name(m[1]), c_string(m[0]), c_string(m[1]), c_string(m[2]), c_string(m[3]),
                   'true' if m[4] else 'false'))
    c.write('};\n\n')
    c.write('const SignalSpec interface_signals[_SIGNAL_MAX] = {\n')
    for s in signals:
        c.write('        [SIGNAL_%s] = { %s, %s, %s },\n'
                % (c_name(s[1]), c_string(s[0]), c_string(s[1]), c_string(s[2])))
    c.write('};\n\n')
    c.write('const PropertySpec interface_properties[_PROPERTY_MAX] = {\n')
    for p in properties:
        c.write('        [PROPERTY_%s] = { %s, %s, %s },\n'
                % (c_name(p[1]), c_string(p[0]), c_string(p[1]), c_string(p[2])))
    c.write('};\n')

with open(out_xml_c, 'w') as c:
    c.write('/* Generated from %s by generate-interface.py; do not edit. */\n' % header)
    c.write('#include "%s"\n\n' % out_h.split('/')[-1])
    c.write('const char interface_xml[] =\n')
    for line in data.decode('utf-8').splitlines(True):
        c.write('        %s\n' % c_string(line))
    c.write(';\n')
