/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend.
 *
 * Settings on every connection:
 * - journal_mode=WAL: readers never block the writer and vice versa.
 * - synchronous=NORMAL by default: in WAL mode a commit that returned
 *   survives any crash of the process (SIGKILL, abort) and the database is
 *   never corrupted; only a power loss or kernel crash may roll back the last
 *   few commits. Hosts re-send state with every heartbeat and report, so the
 *   controller recovers from that, and commits avoid an fsync each.
 *   store_options.durable selects FULL (an fsync per commit) instead.
 * - foreign_keys=ON, and a busy timeout for locks held by other processes.
 * - Multi-thread mode (SQLITE_OPEN_NOMUTEX): the pool hands a connection to
 *   one thread at a time, so SQLite's per-connection mutex is not needed.
 *
 * Other processes' commits are seen through inotify on the database's
 * folder. A commit's -wal writes come before the commit is visible (the
 * wal-index in -shm, which inotify cannot see, is updated last), so a
 * watcher woken by them may read the old snapshot and miss the commit for
 * good. Every connection's WAL hook, which SQLite calls once the commit is
 * visible, therefore writes a byte to DB-events: the wake-up the watcher
 * trusts.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store-int.h"

static int map_error(sqlite3 *db, int rc, struct pvm_err *err)
{
	int ext = sqlite3_extended_errcode(db);
	const char *msg = sqlite3_errmsg(db);

	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
			return pvm_err_set(err, -EEXIST, "already exists (%s)", msg);
		if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
			return pvm_err_set(err, -ENOENT, "refers to a missing row (%s)", msg);
		return pvm_err_set(err, -EINVAL, "constraint failed (%s)", msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return pvm_err_set(err, -EAGAIN, "database is locked by another process (%s)", msg);
	case SQLITE_NOMEM:
		return pvm_err_set(err, -ENOMEM, "out of memory");
	case SQLITE_FULL:
		return pvm_err_set(err, -EDQUOT, "the database's disk is full (%s)", msg);
	case SQLITE_IOERR:
		/* A write that met a full disk is reported as an I/O error by some VFS paths. */
		if (sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT)
			return pvm_err_set(err, -EDQUOT, "the database's disk is full (%s)", msg);
		return pvm_err_set(err, -EIO, "sqlite: %s", msg);
	default:
		return pvm_err_set(err, -EIO, "sqlite: %s", msg);
	}
}

static int lite_exec(void *conn, const char *sql, struct pvm_err *err)
{
	sqlite3 *db = conn;
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	sqlite3_free(msg);
	if (rc != SQLITE_OK)
		return map_error(db, rc, err);
	return 0;
}

/* Runs a statement returning one text or integer row. */
static int query_one(sqlite3 *db, const char *sql, char *text, size_t size, int64_t *num,
		     struct pvm_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_error(db, rc, err);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ret = rc == SQLITE_DONE ? pvm_err_set(err, -EIO, "%s: no result", sql)
					: map_error(db, rc, err);
		goto out;
	}
	if (text)
		snprintf(text, size, "%s", (const char *)sqlite3_column_text(st, 0));
	if (num)
		*num = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return ret;
}

/*
 * The database holds token hashes: owner only. SQLite gives a new -wal or
 * -shm file the database file's mode, so tightening the database right
 * after it is opened (before the schema or a token is written) covers all
 * three; files an older pvm left readable are tightened too.
 *
 * By path only, never through a descriptor of our own: closing any
 * descriptor of the database file drops every POSIX lock this process
 * holds on it, the locks other pooled connections rely on (SQLite's
 * "how to corrupt" page, section 2.2).
 */
static int private_files(const char *path, bool created, struct pvm_err *err)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char name[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if (snprintf(name, sizeof(name), "%s%s", path, suffix[i]) >= (int)sizeof(name))
			return pvm_err_set(err, -ENAMETOOLONG, "sqlite path too long: %s", path);
		if (lstat(name, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 077))
			continue;
		if (!created)
			pvm_log_warn("store: %s was readable by others (mode %03o): now 0600", name,
				     (unsigned)(st.st_mode & 0777));
		if (chmod(name, st.st_mode & 0700) < 0)
			return pvm_err_set(err, -errno, "chmod %s: %s", name, strerror(errno));
	}
	return 0;
}

/* SQLite's own threshold for the automatic checkpoint this hook replaces. */
#define LITE_AUTOCHECKPOINT_PAGES 1000

/* Runs after each commit, once other processes can see it: wakes their
 * watchers (DB-events), and checkpoints as the default hook would. */
static int lite_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	const struct store *s = arg;
	char path[PATH_MAX];
	int fd;

	if (pages >= LITE_AUTOCHECKPOINT_PAGES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (snprintf(path, sizeof(path), "%s-events", s->path) >= (int)sizeof(path))
		return SQLITE_OK;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		/* Best effort: a watcher that misses it still wakes on -wal writes. */
		if (pwrite(fd, "", 1, 0) < 0)
			pvm_log_debug("store: %s: %s", path, strerror(errno));
		close(fd);
	}
	return SQLITE_OK;
}

static int lite_conn_open(struct store *s, void **conn, struct pvm_err *err)
{
	const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
			  (s->opts.no_create ? 0 : SQLITE_OPEN_CREATE);
	sqlite3 *db = NULL;
	char mode[16];
	int rc, ret;

	bool created = access(s->path, F_OK) < 0 && errno == ENOENT;
	rc = sqlite3_open_v2(s->path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		ret = pvm_err_set(err, rc == SQLITE_CANTOPEN ? -ENOENT : -EIO, "sqlite open: %s",
				  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	ret = private_files(s->path, created, err);
	if (ret < 0)
		goto fail;
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, s->opts.busy_timeout_ms);
	ret = query_one(db, "PRAGMA journal_mode=WAL", mode, sizeof(mode), NULL, err);
	if (ret < 0)
		goto fail;
	if (strcmp(mode, "wal") != 0) {
		ret = pvm_err_set(err, -EIO, "cannot use WAL mode (journal mode is %s)", mode);
		goto fail;
	}
	sqlite3_wal_hook(db, lite_wal_hook, s);
	ret = lite_exec(db,
			s->opts.durable ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"
					: "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
			err);
	if (ret < 0)
		goto fail;
	*conn = db;
	return 0;
fail:
	sqlite3_close_v2(db);
	return ret;
}

static void lite_conn_close(void *conn)
{
	sqlite3_close_v2(conn);
}

static int lite_schema_version(void *conn, int *version, struct pvm_err *err)
{
	int64_t v = 0;
	int ret;

	ret = query_one(conn, "PRAGMA user_version", NULL, 0, &v, err);
	if (ret == 0)
		*version = (int)v;
	return ret;
}

static int lite_migrate(void *conn, struct pvm_err *err)
{
	char sql[64];
	int version = 0, ret;

	ret = lite_schema_version(conn, &version, err);
	if (ret < 0)
		return ret;
	if (version > STORE_SCHEMA_VERSION)
		return store_schema_too_new(version, err);
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	/* Another process may be migrating too: decide under the write lock. */
	ret = lite_exec(conn, "BEGIN IMMEDIATE", err);
	if (ret < 0)
		return ret;
	ret = lite_schema_version(conn, &version, err);
	if (ret < 0)
		goto rollback;
	if (version > STORE_SCHEMA_VERSION) {
		lite_exec(conn, "ROLLBACK", NULL);
		return store_schema_too_new(version, err);
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		ret = lite_exec(conn, store_migrations[version], err);
		if (ret < 0) {
			pvm_err_prefix(err, "migration to schema version %d", version + 1);
			goto rollback;
		}
		pvm_log_info("store: migrated schema to version %d", version + 1);
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
	ret = lite_exec(conn, sql, err);
	if (ret < 0)
		goto rollback;
	return lite_exec(conn, "COMMIT", err);
rollback:
	lite_exec(conn, "ROLLBACK", NULL);
	return ret;
}

static int lite_integrity_check(void *conn, struct pvm_err *err)
{
	char res[PVM_ERR_MSG_MAX / 2];
	int ret;

	ret = query_one(conn, "PRAGMA integrity_check", res, sizeof(res), NULL, err);
	if (ret < 0)
		return ret;
	if (strcmp(res, "ok") != 0)
		return pvm_err_set(err, -EIO, "integrity check failed: %s", res);
	return 0;
}

/* Pages one backup step copies: a step is short, and the copy restarts never,
 * since one read transaction holds the snapshot across all of them. */
#define BACKUP_STEP_PAGES 256

/* The file's data on disk before it is renamed into place. */
static int fsync_path(const char *path, struct pvm_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return pvm_err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fsync(fd) < 0)
		ret = pvm_err_set(err, -errno, "fsync %s: %s", path, strerror(errno));
	close(fd);
	return ret;
}

/* A new, owner-only, empty file at path, opened as a database. */
static int open_new_db(const char *path, sqlite3 **db, struct pvm_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc;

	if (fd < 0)
		return pvm_err_set(err, -errno, "%s: %s", path, strerror(errno));
	/* Closed before SQLite opens it: no lock of ours rides on this descriptor. */
	close(fd);
	rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return pvm_err_set(err, -EIO, "sqlite open %s: %s", path,
				   *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
	return 0;
}

/* Copies src into dst, `pages` a step (-1: all at once). */
static int copy_db(sqlite3 *dst, sqlite3 *src, int pages, struct pvm_err *err)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc;

	if (!b)
		return map_error(dst, sqlite3_errcode(dst), err);
	do
		rc = sqlite3_backup_step(b, pages);
	while (rc == SQLITE_OK);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return map_error(dst, rc, err);
	return 0;
}

static int lite_backup(void *conn, const char *to, struct pvm_err *err)
{
	char tmp[PATH_MAX], mode[16];
	sqlite3 *dst = NULL;
	int ret;

	if (snprintf(tmp, sizeof(tmp), "%s.partial", to) >= (int)sizeof(tmp))
		return pvm_err_set(err, -ENAMETOOLONG, "backup path too long: %s", to);
	if (access(to, F_OK) == 0)
		return pvm_err_set(err, -EEXIST, "%s exists", to);
	ret = open_new_db(tmp, &dst, err);
	if (ret == -EEXIST)
		return pvm_err_prefix(err, "another backup may be writing it");
	if (ret < 0)
		goto out;
	/*
	 * One read transaction across every step: the snapshot stays the one
	 * the backup began with. Left to itself, each step would read afresh,
	 * and any commit of another connection in between would restart the
	 * copy from page 1, for ever under a steady writer.
	 */
	ret = lite_exec(conn, "BEGIN; SELECT count(*) FROM sqlite_schema", err);
	if (ret == 0)
		ret = copy_db(dst, conn, BACKUP_STEP_PAGES, err);
	/* Ends the read transaction (if BEGIN got that far): it read only. */
	lite_exec(conn, "ROLLBACK", NULL);
	/* The copy is one self-contained file, as a backup should be. */
	if (ret == 0)
		ret = query_one(dst, "PRAGMA journal_mode=DELETE", mode, sizeof(mode), NULL, err);
	if (ret == 0)
		ret = lite_integrity_check(dst, err);
out:
	if (sqlite3_close(dst) != SQLITE_OK && ret == 0)
		ret = pvm_err_set(err, -EIO, "closing %s: %s", tmp, sqlite3_errmsg(dst));
	if (ret == 0)
		ret = fsync_path(tmp, err);
	if (ret == 0 && rename(tmp, to) < 0)
		ret = pvm_err_set(err, -errno, "rename %s: %s", tmp, strerror(errno));
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static int lite_restore(const char *from, const char *path, bool replace, struct pvm_err *err)
{
	sqlite3 *src = NULL, *dst = NULL;
	int version = 0, rc, ret;

	rc = sqlite3_open_v2(from, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		ret = pvm_err_set(err, rc == SQLITE_CANTOPEN ? -ENOENT : -EIO, "sqlite open: %s",
				  src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
		goto out;
	}
	ret = lite_integrity_check(src, err);
	if (ret == 0)
		ret = lite_schema_version(src, &version, err);
	if (ret < 0)
		goto out;
	if (version <= 0) {
		ret = pvm_err_set(err, -EINVAL, "%s is not a pvm store", from);
		goto out;
	}
	if (version > STORE_SCHEMA_VERSION) {
		ret = store_schema_too_new(version, err);
		goto out;
	}
	if (access(path, F_OK) == 0) {
		if (!replace) {
			ret = pvm_err_set(err, -EEXIST, "a store is at %s", path);
			goto out;
		}
		rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc != SQLITE_OK) {
			ret = pvm_err_set(err, -EIO, "sqlite open %s: %s", path,
					  dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
			goto out;
		}
	} else {
		ret = open_new_db(path, &dst, err);
		if (ret < 0)
			goto out;
	}
	/* Through the destination's own pager and locks: a connection still
	 * open on it sees the restored store, never half of it. */
	sqlite3_busy_timeout(dst, 5000);
	ret = copy_db(dst, src, -1, err);
out:
	sqlite3_close_v2(dst);
	sqlite3_close_v2(src);
	return ret;
}

static int lite_begin_write(void *conn, struct pvm_err *err)
{
	/* IMMEDIATE takes the write lock now: a deferred transaction that later
	 * upgrades can fail with SQLITE_BUSY without waiting. */
	return lite_exec(conn, "BEGIN IMMEDIATE", err);
}

static int lite_prepare(void *conn, const char *sql, void **stmt, struct pvm_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return map_error(conn, rc, err);
	*stmt = st;
	return 0;
}

static void lite_finalize(void *stmt)
{
	sqlite3_finalize(stmt);
}

static void lite_reset(void *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

static void lite_bind_int(void *stmt, int idx, int64_t v)
{
	sqlite3_bind_int64(stmt, idx, v);
}

static void lite_bind_text(void *stmt, int idx, const char *v)
{
	/* Static: every caller steps before its strings go away, and reset
	 * clears the bindings. */
	if (v)
		sqlite3_bind_text(stmt, idx, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, idx);
}

static int lite_step(void *stmt, struct pvm_err *err)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return map_error(sqlite3_db_handle(stmt), rc, err);
}

static int64_t lite_col_int(void *stmt, int col)
{
	return sqlite3_column_int64(stmt, col);
}

static const char *lite_col_text(void *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt, col);
}

static int64_t lite_changes(void *conn)
{
	return sqlite3_changes64(conn);
}

struct lite_watch {
	int fd;
	char base[NAME_MAX + 1];
};

static int lite_watch_open(struct store *s, void **w, struct pvm_err *err)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct lite_watch *lw;
	int ret;

	if (snprintf(dir, sizeof(dir), "%s", s->path) >= (int)sizeof(dir) ||
	    snprintf(base, sizeof(base), "%s", s->path) >= (int)sizeof(base))
		return pvm_err_set(err, -ENAMETOOLONG, "store path too long");
	lw = calloc(1, sizeof(*lw));
	if (!lw)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	snprintf(lw->base, sizeof(lw->base), "%s", basename(base));
	lw->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (lw->fd < 0) {
		ret = pvm_err_set(err, -errno, "inotify: %s", strerror(errno));
		free(lw);
		return ret;
	}
	if (inotify_add_watch(lw->fd, dirname(dir), IN_MODIFY | IN_MOVED_TO | IN_CREATE) < 0) {
		ret = pvm_err_set(err, -errno, "inotify watch of %s: %s", dir, strerror(errno));
		close(lw->fd);
		free(lw);
		return ret;
	}
	*w = lw;
	return 0;
}

/* True when the event is about the database, its -wal or its -events file. */
static bool lite_watch_match(const struct lite_watch *lw, const struct inotify_event *ev)
{
	size_t n = strlen(lw->base);

	if (!ev->len || strncmp(ev->name, lw->base, n) != 0)
		return false;
	return ev->name[n] == '\0' || !strcmp(ev->name + n, "-wal") ||
	       !strcmp(ev->name + n, "-events");
}

static int lite_watch_wait(void *w, int stop_fd, int64_t *seq)
{
	struct lite_watch *lw = w;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2] = {
	    {.fd = lw->fd, .events = POLLIN},
	    {.fd = stop_fd, .events = POLLIN},
	};
	bool hit = false;

	*seq = 0;
	while (!hit) {
		ssize_t len;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return 0;
		/* Drain everything queued: one wake-up per burst of commits. */
		while ((len = read(lw->fd, buf, sizeof(buf))) > 0) {
			for (char *q = buf; q < buf + len;) {
				const struct inotify_event *ev = (const void *)q;

				hit = hit || lite_watch_match(lw, ev);
				q += sizeof(*ev) + ev->len;
			}
		}
		if (len < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return 1;
}

static void lite_watch_close(void *w)
{
	struct lite_watch *lw = w;

	close(lw->fd);
	free(lw);
}

const struct store_backend_ops store_sqlite_ops = {
    .name = "sqlite",
    .conn_open = lite_conn_open,
    .conn_close = lite_conn_close,
    .migrate = lite_migrate,
    .schema_version = lite_schema_version,
    .integrity_check = lite_integrity_check,
    .backup = lite_backup,
    .restore = lite_restore,
    .begin_write = lite_begin_write,
    .exec = lite_exec,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .reset = lite_reset,
    .bind_int = lite_bind_int,
    .bind_text = lite_bind_text,
    .step = lite_step,
    .col_int = lite_col_int,
    .col_text = lite_col_text,
    .changes = lite_changes,
    .watch_open = lite_watch_open,
    .watch_wait = lite_watch_wait,
    .watch_close = lite_watch_close,
};
