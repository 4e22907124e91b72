/* SPDX-License-Identifier: MIT */
/* Private to the SQLite backend of store/. */
#ifndef PVM_STORE_SQLITE_INT_H
#define PVM_STORE_SQLITE_INT_H

#include "store/store-int.h"

/* store_sqlite_migrations[i] takes the schema from version i to i + 1. */
extern const char *const store_sqlite_migrations[STORE_SCHEMA_VERSION];

#endif /* PVM_STORE_SQLITE_INT_H */
