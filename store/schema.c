/* SPDX-License-Identifier: MIT */
/*
 * The schema as numbered migrations, one list for both backends: migration
 * i brings the schema from version i to i + 1. Append, never edit a
 * released step. Written for SQLite; the PostgreSQL backend widens the types
 * (postgres.c), so only TEXT, INTEGER and INTEGER PRIMARY KEY AUTOINCREMENT
 * are used; booleans are 0/1 integers.
 */
#include <errno.h>

#include "store/store-int.h"

static const char *const v1 =
    "CREATE TABLE hosts ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " address TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " cordoned INTEGER NOT NULL,"
    " draining INTEGER NOT NULL,"
    " labels TEXT NOT NULL,"
    " capabilities TEXT NOT NULL,"
    " cpus INTEGER NOT NULL CHECK (cpus >= 0),"
    " memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),"
    " disk_gib INTEGER NOT NULL CHECK (disk_gib >= 0),"
    " free_cpus INTEGER NOT NULL,"
    " free_memory_mib INTEGER NOT NULL,"
    " free_disk_gib INTEGER NOT NULL,"
    " last_heartbeat_ms INTEGER NOT NULL,"
    " generation INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL);"

    "CREATE TABLE images ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " format TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),"
    " sha256 TEXT NOT NULL,"
    " generation INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL);"

    "CREATE TABLE guests ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " spec TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " desired_state TEXT NOT NULL,"
    " observed_state TEXT NOT NULL,"
    " restart_policy TEXT NOT NULL,"
    " vcpus INTEGER NOT NULL CHECK (vcpus >= 0),"
    " memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),"
    " disk_gib INTEGER NOT NULL CHECK (disk_gib >= 0),"
    " host_id TEXT REFERENCES hosts(id) ON DELETE RESTRICT,"
    " generation INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL);"
    "CREATE INDEX guests_by_host ON guests(host_id, id);"

    "CREATE TABLE host_caps ("
    " host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " abi_version INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " PRIMARY KEY (host_id, name));"

    "CREATE TABLE guest_caps ("
    " guest_id TEXT NOT NULL REFERENCES guests(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " abi_version INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " PRIMARY KEY (guest_id, name));"

    "CREATE TABLE hook_stats ("
    " guest_id TEXT NOT NULL REFERENCES guests(id) ON DELETE CASCADE,"
    " hook TEXT NOT NULL,"
    " calls INTEGER NOT NULL,"
    " doorbells INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " errors INTEGER NOT NULL,"
    " exits_avoided INTEGER NOT NULL,"
    " histogram TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY (guest_id, hook));"

    "CREATE TABLE hook_rollups ("
    " guest_id TEXT NOT NULL REFERENCES guests(id) ON DELETE CASCADE,"
    " hook TEXT NOT NULL,"
    " minute_ms INTEGER NOT NULL,"
    " calls INTEGER NOT NULL,"
    " doorbells INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " errors INTEGER NOT NULL,"
    " exits_avoided INTEGER NOT NULL,"
    " PRIMARY KEY (guest_id, hook, minute_ms));"
    "CREATE INDEX hook_rollups_by_minute ON hook_rollups(minute_ms);"

    "CREATE TABLE placements ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " guest_id TEXT NOT NULL REFERENCES guests(id) ON DELETE CASCADE,"
    " host_id TEXT REFERENCES hosts(id) ON DELETE SET NULL,"
    " decision TEXT NOT NULL,"
    " explanation TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE INDEX placements_by_guest ON placements(guest_id, seq);"
    "CREATE INDEX placements_by_host ON placements(host_id, seq);"

    /* AUTOINCREMENT: a sequence number is never reused, even after pruning. */
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " type TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL);"
    "CREATE INDEX events_by_time ON events(time_ms);"

    "CREATE TABLE tokens ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " host_id TEXT REFERENCES hosts(id) ON DELETE SET NULL,"
    " hash TEXT NOT NULL UNIQUE,"
    " revoked INTEGER NOT NULL,"
    " revoked_ms INTEGER NOT NULL,"
    " generation INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL);"

    "CREATE TABLE idempotency_keys ("
    " key TEXT PRIMARY KEY,"
    " request_hash TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " body TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL);"
    "CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_ms);"

    "CREATE TABLE kv ("
    " ns TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY (ns, key));";

/* v2: vCPU exits by reason and the guest agent's state, relayed by hosts. */
static const char *const v2 = "CREATE TABLE guest_exits ("
			      " guest_id TEXT NOT NULL REFERENCES guests(id) ON DELETE CASCADE,"
			      " reason TEXT NOT NULL,"
			      " count INTEGER NOT NULL CHECK (count >= 0),"
			      " updated_ms INTEGER NOT NULL,"
			      " PRIMARY KEY (guest_id, reason));"

			      "CREATE TABLE guest_agent ("
			      " guest_id TEXT PRIMARY KEY REFERENCES guests(id) ON DELETE CASCADE,"
			      " state TEXT NOT NULL,"
			      " stale INTEGER NOT NULL,"
			      " hello_ms INTEGER NOT NULL,"
			      " updated_ms INTEGER NOT NULL);";

/* v3: token expiry, ms since the epoch; NULL (every older token) never expires. */
static const char *const v3 = "ALTER TABLE tokens ADD COLUMN expires_ms INTEGER;";

/* v4: the hv platform a guest's VMM runs on, as its host reported it; NULL
 * (every older guest) until reported, and again when the guest is bound anew. */
static const char *const v4 = "ALTER TABLE guests ADD COLUMN platform TEXT;";

const char *const store_migrations[] = {v1, v2, v3, v4};

_Static_assert(PVM_ARRAY_SIZE(store_migrations) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

int store_schema_too_new(int version, struct pvm_err *err)
{
	return pvm_err_set(err, -EPROTO,
			   "database schema version %d is newer than this pvm understands (%d); "
			   "use a newer pvm or restore a backup",
			   version, STORE_SCHEMA_VERSION);
}
