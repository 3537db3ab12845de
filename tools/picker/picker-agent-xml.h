/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.tlsid.Agent1's introspection (placeholder until dbus/org.tlsid.Agent1.xml lands). */
#pragma once

static const char picker_agent_xml[] =
        "<node>"
        " <interface name='org.tlsid.Agent1'>"
        "  <method name='RequestChoice'>"
        "   <arg name='id' type='s' direction='in'/>"
        "   <arg name='request' type='a{sv}' direction='in'/>"
        "   <arg name='answer' type='s' direction='out'/>"
        "   <arg name='identity' type='s' direction='out'/>"
        "   <arg name='options' type='a{sv}' direction='out'/>"
        "  </method>"
        "  <method name='Cancel'>"
        "   <annotation name='org.freedesktop.DBus.Method.NoReply' value='true'/>"
        "   <arg name='id' type='s' direction='in'/>"
        "  </method>"
        " </interface>"
        "</node>";
