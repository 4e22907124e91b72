/* SPDX-License-Identifier: MIT */
/*
 * The host's own SQLite (state_dir/host.db): each guest's definition and its
 * VMM process (pid and kernel start time), so a restarted pvmd re-adopts
 * running VMMs instead of starting them twice. Raw sqlite3 rather than
 * store/: one small table, no controller schema, and the host must not
 * depend on the controller's migrations.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "daemon/vmm.h"

/* 2: guest.platform (pvm-vmm --platform; NULL: the driver's). */
#define SCHEMA_VERSION 2

struct pvmd_hstate {
	sqlite3 *db;
};

static const char schema[] = "CREATE TABLE IF NOT EXISTS guest ("
			     " id TEXT PRIMARY KEY,"
			     " name TEXT NOT NULL,"
			     " vcpus INTEGER NOT NULL,"
			     " memory_mib INTEGER NOT NULL,"
			     " image TEXT NOT NULL,"
			     " disk TEXT,"
			     " cmdline TEXT,"
			     " platform TEXT,"
			     " pid INTEGER NOT NULL DEFAULT 0,"
			     " starttime INTEGER NOT NULL DEFAULT 0,"
			     " exit_status INTEGER NOT NULL DEFAULT -1,"
			     " stopping INTEGER NOT NULL DEFAULT 0);";

static int db_error(struct pvmd_hstate *hs, struct pvm_err *err, const char *what)
{
	return pvm_err_set(err, -EIO, "host state: %s: %s", what, sqlite3_errmsg(hs->db));
}

int pvmd_hstate_open(const char *path, struct pvmd_hstate **out, struct pvm_err *err)
{
	struct pvmd_hstate *hs = calloc(1, sizeof(*hs));
	sqlite3_stmt *st = NULL;
	int ret, version = 0;

	if (!hs)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	if (sqlite3_open_v2(path, &hs->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		ret = pvm_err_set(err, -EIO, "host state %s: %s", path,
				  hs->db ? sqlite3_errmsg(hs->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(hs->db, 5000);
	if (sqlite3_exec(hs->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(hs->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		ret = db_error(hs, err, path);
		goto fail;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION) {
		ret = pvm_err_set(err, -EPROTO,
				  "host state %s: schema version %d is newer than this pvmd's %d",
				  path, version, SCHEMA_VERSION);
		goto fail;
	}
	/* A version 1 file has the table without its platform column. */
	if (sqlite3_exec(hs->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    (version == 1 && sqlite3_exec(hs->db, "ALTER TABLE guest ADD COLUMN platform TEXT",
					  NULL, NULL, NULL) != SQLITE_OK) ||
	    sqlite3_exec(hs->db, "PRAGMA user_version = 2", NULL, NULL, NULL) != SQLITE_OK) {
		ret = db_error(hs, err, path);
		goto fail;
	}
	*out = hs;
	return 0;
fail:
	pvmd_hstate_close(hs);
	return ret;
}

void pvmd_hstate_close(struct pvmd_hstate *hs)
{
	if (!hs)
		return;
	sqlite3_close(hs->db);
	free(hs);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int pvmd_hstate_add(struct pvmd_hstate *hs, const struct pvmd_hguest *g, struct pvm_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(hs->db,
			       "INSERT INTO guest (id, name, vcpus, memory_mib, image, disk, "
			       "cmdline, platform) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(hs, err, "insert");
	bind_text(st, 1, g->id);
	bind_text(st, 2, g->name);
	sqlite3_bind_int64(st, 3, g->vcpus);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)g->memory_mib);
	bind_text(st, 5, g->image);
	bind_text(st, 6, g->disk);
	bind_text(st, 7, g->cmdline);
	bind_text(st, 8, g->platform[0] ? g->platform : NULL);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return pvm_err_set(err, -EEXIST, "guest %s is already defined", g->id);
	if (rc != SQLITE_DONE)
		return db_error(hs, err, "insert");
	return 0;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

#define COLUMNS                                                                                    \
	"id, name, vcpus, memory_mib, image, disk, cmdline, pid, starttime, exit_status, "         \
	"stopping, platform"

static int row(sqlite3_stmt *st, struct pvmd_hguest *g)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(g->name, sizeof(g->name), "%s", (const char *)sqlite3_column_text(st, 1));
	g->vcpus = (unsigned)sqlite3_column_int64(st, 2);
	g->memory_mib = (uint64_t)sqlite3_column_int64(st, 3);
	g->image = col_dup(st, 4);
	g->disk = col_dup(st, 5);
	g->cmdline = col_dup(st, 6);
	g->pid = (pid_t)sqlite3_column_int64(st, 7);
	g->starttime = (uint64_t)sqlite3_column_int64(st, 8);
	g->exit_status = sqlite3_column_int(st, 9);
	g->stopping = sqlite3_column_int(st, 10) != 0;
	if (sqlite3_column_text(st, 11))
		snprintf(g->platform, sizeof(g->platform), "%s",
			 (const char *)sqlite3_column_text(st, 11));
	if (!g->image || (!g->disk && sqlite3_column_type(st, 5) != SQLITE_NULL) ||
	    (!g->cmdline && sqlite3_column_type(st, 6) != SQLITE_NULL)) {
		pvmd_hguest_free(g);
		return -ENOMEM;
	}
	return 0;
}

int pvmd_hstate_get(struct pvmd_hstate *hs, const char *id, struct pvmd_hguest *out,
		    struct pvm_err *err)
{
	sqlite3_stmt *st;
	int rc, ret;

	if (sqlite3_prepare_v2(hs->db, "SELECT " COLUMNS " FROM guest WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return db_error(hs, err, "select");
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ret = row(st, out) < 0 ? pvm_err_set(err, -ENOMEM, "out of memory") : 0;
	else if (rc == SQLITE_DONE)
		ret = pvm_err_set(err, -ENOENT, "hv: no guest %s", id);
	else
		ret = db_error(hs, err, "select");
	sqlite3_finalize(st);
	return ret;
}

int pvmd_hstate_set_proc(struct pvmd_hstate *hs, const struct pvmd_hguest *g, struct pvm_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(hs->db,
			       "UPDATE guest SET pid = ?, starttime = ?, exit_status = ?, "
			       "stopping = ? WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(hs, err, "update");
	sqlite3_bind_int64(st, 1, g->pid);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)g->starttime);
	sqlite3_bind_int(st, 3, g->exit_status);
	sqlite3_bind_int(st, 4, g->stopping);
	bind_text(st, 5, g->id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(hs, err, "update");
	if (sqlite3_changes(hs->db) == 0)
		return pvm_err_set(err, -ENOENT, "hv: no guest %s", g->id);
	return 0;
}

int pvmd_hstate_del(struct pvmd_hstate *hs, const char *id, struct pvm_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(hs->db, "DELETE FROM guest WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_error(hs, err, "delete");
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(hs, err, "delete");
	if (sqlite3_changes(hs->db) == 0)
		return pvm_err_set(err, -ENOENT, "hv: no guest %s", id);
	return 0;
}

int pvmd_hstate_list(struct pvmd_hstate *hs, struct pvmd_hguest **out, size_t *n,
		     struct pvm_err *err)
{
	struct pvmd_hguest *v = NULL, *nv;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (sqlite3_prepare_v2(hs->db, "SELECT " COLUMNS " FROM guest ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return db_error(hs, err, "list");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				ret = pvm_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		if (row(st, &v[count]) < 0) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		count++;
	}
	if (rc != SQLITE_DONE)
		ret = db_error(hs, err, "list");
out:
	sqlite3_finalize(st);
	if (ret < 0) {
		pvmd_hguests_free(v, count);
		return ret;
	}
	*out = v;
	*n = count;
	return 0;
}

void pvmd_hguest_free(struct pvmd_hguest *g)
{
	free(g->image);
	free(g->disk);
	free(g->cmdline);
	g->image = g->disk = g->cmdline = NULL;
}

void pvmd_hguests_free(struct pvmd_hguest *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pvmd_hguest_free(&g[i]);
	free(g);
}
