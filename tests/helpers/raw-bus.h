/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading tlsidd's replies with bare libdbus, for tests that bypass libtlsid. */
#pragma once

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

/* Finds the u or t entry @key of a GetStatistics reply (a{sv}) and stores it in @ret_value.
 * Returns false, leaving @ret_value alone, when @reply is not an a{sv} or has no entry @key
 * of type u or t. */
bool raw_bus_statistic(DBusMessage *reply, const char *key, uint64_t *ret_value);
