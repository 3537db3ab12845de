/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's GError domain, whose codes are common/tlsid-errors.h's TlsidErrorCode (each
 * one an org.tlsid.Error.* name), and the one way to quote a value in an error message. */
#pragma once

#include <glib.h>

#include "tlsid-errors.h"

#define TLSID_ERROR (daemon_error_quark())
GQuark daemon_error_quark(void);

/* Bytes of a value quoted in an error message at most; longer ones are cut. */
#define ERROR_QUOTE_MAX 64

/* @s for an error message or a log line: in double quotes, C-escaped (so it is ASCII
 * whatever a caller or a file held) and cut after ERROR_QUOTE_MAX bytes with "..."
 * after the closing quote; "(null)" for NULL (transfer full). */
char *error_quote(const char *s);

/* The path of member @name of @parent for an error message: "parent.name" when @name is
 * an identifier ([A-Za-z_][A-Za-z0-9_]*) of at most ERROR_QUOTE_MAX bytes, else
 * parent["name"] quoted as error_quote() does; no "parent." when @parent is ""
 * (transfer full). */
char *error_member_path(const char *parent, const char *name);
