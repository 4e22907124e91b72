/* SPDX-License-Identifier: MIT */
/*
 * store internals shared by the files of store/ (not part of the public API).
 *
 * Layering: the table files (hosts.c, guests.c, ...) speak portable SQL with
 * `?` placeholders through the small statement layer below (store_db_*). The
 * statement layer dispatches to a backend ops table: sqlite.c, or
 * postgres.c (which numbers the placeholders `$n` and widens the schema's
 * types). Both run the one migration list in schema.c.
 */
#ifndef PVM_STORE_INT_H
#define PVM_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "store/store.h"

/* ---- backend ops --------------------------------------------------------- */

/*
 * One backend. Connections and statements are opaque to everything above.
 * step returns 1 for a row, 0 when done, or a negative errno classified as:
 * -EEXIST unique violation, -ENOENT foreign key violation, -EINVAL other
 * constraint, -EAGAIN lock wait timed out, -EIO anything else.
 */
struct store_backend_ops {
	const char *name;
	int (*conn_open)(struct store *s, void **conn, struct pvm_err *err);
	void (*conn_close)(void *conn);
	/* Creates or upgrades the schema; -EPROTO when it is newer than known. */
	int (*migrate)(void *conn, struct pvm_err *err);
	int (*schema_version)(void *conn, int *version, struct pvm_err *err);
	int (*integrity_check)(void *conn, struct pvm_err *err);
	/* store_backup from this connection into the file `to`; NULL: not
	 * supported. */
	int (*backup)(void *conn, const char *to, struct pvm_err *err);
	/* store_restore's copy of `from` to the backend's path (before the
	 * store opens it); NULL: not supported. */
	int (*restore)(const char *from, const char *path, bool replace, struct pvm_err *err);
	/* Starts a write transaction that holds the write lock from the start. */
	int (*begin_write)(void *conn, struct pvm_err *err);
	int (*exec)(void *conn, const char *sql, struct pvm_err *err);
	int (*prepare)(void *conn, const char *sql, void **stmt, struct pvm_err *err);
	void (*finalize)(void *stmt);
	void (*reset)(void *stmt);
	void (*bind_int)(void *stmt, int idx, int64_t v);
	void (*bind_text)(void *stmt, int idx, const char *v); /* NULL binds NULL */
	int (*step)(void *stmt, struct pvm_err *err);
	int64_t (*col_int)(void *stmt, int col);
	const char *(*col_text)(void *stmt, int col); /* NULL for SQL NULL */
	int64_t (*changes)(void *conn);		      /* rows changed by the last statement */
	/* Inside a write transaction that appended events up to seq, just
	 * before its COMMIT: tells other processes once it commits. May be NULL. */
	int (*notify)(void *conn, int64_t seq, struct pvm_err *err);
	/*
	 * A watcher of other processes' commits. watch_wait blocks until one
	 * may have appended events (1, with *seq the newest sequence number when
	 * the backend knows it, else 0), stop_fd is readable (0), or the watcher
	 * broke (<0: it is closed and opened again).
	 */
	int (*watch_open)(struct store *s, void **w, struct pvm_err *err);
	int (*watch_wait)(void *w, int stop_fd, int64_t *seq);
	void (*watch_close)(void *w);
};

extern const struct store_backend_ops store_sqlite_ops;
extern const struct store_backend_ops store_postgres_ops;

/* store_migrations[i] takes the schema from version i to i + 1 (schema.c). */
extern const char *const store_migrations[STORE_SCHEMA_VERSION];
/* A migration's text as PostgreSQL runs it (postgres.c); malloc'ed, NULL
 * when out of memory. */
char *store_pg_ddl(const char *sql);
/* The -EPROTO error for a database newer than this pvm. */
int store_schema_too_new(int version, struct pvm_err *err);

/* ---- the store and its connection pool ---------------------------------- */

#define STORE_MAX_QUERIES 192 /* distinct SQL texts in the whole module */

struct store_conn {
	struct store *s;
	void *impl;
	void *stmts[STORE_MAX_QUERIES]; /* prepared once per connection */
	int tx_depth;			/* 0: no transaction */
	bool tx_user;			/* pinned by store_tx_begin */
	int64_t tx_max_seq;		/* highest event seq appended in this transaction */
	struct store_conn *next;	/* free list */
	struct store_conn *tls_next;	/* this thread's pinned connections */
};

struct store {
	const struct store_backend_ops *ops;
	char *path;
	char *display; /* path for messages, without a password */
	struct store_options opts;

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct store_conn *free_conns;
	int nconns;

	/* Serializes writers inside this process. */
	pthread_mutex_t write_lock;

	/* Event watchers (store_events_wait), woken by this process's commits
	 * and, through the watcher thread, by other processes'. */
	pthread_mutex_t ev_lock;
	pthread_cond_t ev_cond;
	int64_t ev_seq;
	bool watching; /* watcher thread started (under ev_lock) */
	pthread_t watcher;
	int watch_stop[2]; /* a pipe: writable end closed to stop it */

	int64_t last_prune_minute; /* hook rollups, guarded by write_lock */
};

/* ---- one call's context --------------------------------------------------- */

#define STORE_CTX_STMTS 16

struct store_ctx {
	struct store *s;
	struct store_conn *c;
	struct pvm_err *err;
	bool borrowed;		     /* c came from the pool (not a pinned transaction) */
	bool writing;		     /* a transaction level was entered */
	void *used[STORE_CTX_STMTS]; /* statements to reset at the end */
	int nused;
};

/* Raises the published event sequence number to seq and wakes waiters. */
void store_events_publish(struct store *s, int64_t seq);
/* Starts the watcher thread once, at the first store_events_wait (watch.c). */
int store_events_watch(struct store *s, struct pvm_err *err);
/* Stops it, if it runs (store_close). */
void store_events_unwatch(struct store *s);

/* Borrows a connection for reading (or joins this thread's transaction). */
int store_ctx_read(struct store *s, struct store_ctx *x, struct pvm_err *err);
/* As store_ctx_read, inside a write transaction (a savepoint when nested). */
int store_ctx_write(struct store *s, struct store_ctx *x, struct pvm_err *err);
/* Ends the context: commits when rc == 0, rolls back otherwise. Returns rc,
 * or the commit error. */
int store_ctx_end(struct store_ctx *x, int rc);

/* ---- statements ----------------------------------------------------------- */

struct store_query {
	const char *sql;
	atomic_int slot; /* 1-based once assigned */
};

#define STORE_QUERY(text)                                                                          \
	{                                                                                          \
		.sql = (text)                                                                      \
	}

/* The connection's cached statement for q, reset with no bindings. */
int store_db_stmt(struct store_ctx *x, struct store_query *q, void **stmt);
void store_db_bind_int(struct store_ctx *x, void *stmt, int idx, int64_t v);
void store_db_bind_text(struct store_ctx *x, void *stmt, int idx, const char *v);
/* "" binds NULL: how unset ids (host_id) are stored. */
void store_db_bind_id(struct store_ctx *x, void *stmt, int idx, const char *v);
/* 1 row, 0 done, <0 error (message in x->err). */
int store_db_step(struct store_ctx *x, void *stmt);
int64_t store_db_int(struct store_ctx *x, void *stmt, int col);
/* Never NULL: SQL NULL reads as "". */
const char *store_db_text(struct store_ctx *x, void *stmt, int col);
/* Copies a text column into a fixed buffer / a malloc'ed string. */
void store_db_copy(struct store_ctx *x, void *stmt, int col, char *dst, size_t size);
int store_db_dup(struct store_ctx *x, void *stmt, int col, char **dst);
/* Rows the last INSERT/UPDATE/DELETE on x's connection changed. */
int64_t store_db_changes(struct store_ctx *x);
/* Runs q (bound by the caller) to completion, for statements without rows. */
int store_db_run(struct store_ctx *x, void *stmt);

/* ---- helpers ------------------------------------------------------------- */

/* "<prefix>_" + 48-bit ms time + 80 random bits, 32 hex digits. */
int store_new_id(const char *prefix, char id[STORE_ID_MAX], struct pvm_err *err);
int store_random_hex(size_t nbytes, char *out, size_t size, struct pvm_err *err);
int store_sha256_hex(const char *data, size_t len, char out[STORE_HASH_HEX], struct pvm_err *err);
int64_t store_now_ms(void);
#define STORE_JSON_MAX (16u << 20) /* one JSON column */

/* Checks text is JSON (an object when want_object); NULL is fine. `what`
 * names the field in the error. */
int store_check_json(const char *text, bool want_object, const char *what, struct pvm_err *err);
/* Checks an id/name argument: non-empty, below max. */
int store_check_str(const char *v, size_t max, const char *what, struct pvm_err *err);
size_t store_list_limit(const struct store_list_opts *opts);
/* Appends an event inside x's transaction (payload NULL: "{}"). */
int store_event_add(struct store_ctx *x, const char *type, const char *subject, const char *payload,
		    int64_t *seq);
/* Appends an event with payload {"generation":gen} plus "key":"value" when
 * key is not NULL. */
int store_event_gen(struct store_ctx *x, const char *type, const char *subject, int64_t gen,
		    const char *key, const char *value);
/*
 * After a generation-checked UPDATE/DELETE touched no row: -ENOENT when the
 * row is missing, else -ESTALE naming the current generation.
 */
int store_gen_conflict(struct store_ctx *x, struct store_query *q_gen, const char *what,
		       const char *id, int64_t expected);
/*
 * Deletes the row id of a table with no dependants to clean up, in a write
 * transaction of its own: q_delete binds (id, expected_gen, expected_gen) and
 * deletes when expected_gen is 0 or current; what names the table in errors.
 */
int store_delete_row(struct store *s, struct store_query *q_delete, struct store_query *q_gen,
		     const char *what, const char *id, int64_t expected_gen, struct pvm_err *err);
/* Inserts a placement row inside x (placements.c); id_out may be NULL. */
int store_placement_insert(struct store_ctx *x, const char *guest_id, const char *host_id,
			   const char *decision, const char *explanation, int64_t now,
			   char *id_out);
/* A per-table growable array for list results. */
int store_grow(void **items, size_t *cap, size_t n, size_t size);

/*
 * Reads the row st is on into item (one element of a table's struct). On
 * failure it leaves nothing in item to free, so that callers need not count
 * a half-read item. Each table has a tiny adapter to this type around its
 * typed reader: calling a function through a pointer of another type is
 * undefined.
 */
typedef int store_row_fn(struct store_ctx *x, void *st, void *item);

/* Reads into item the one row q (its only `?` bound to key) finds; -ENOENT
 * "<what> <key> not found" when there is none. */
int store_get_row(struct store_ctx *x, struct store_query *q, const char *key, const char *what,
		  store_row_fn *read_row, void *item);
/* store_get_row in a read context of its own, for the public getters (which
 * check key first). */
int store_get(struct store *s, struct store_query *q, const char *key, const char *what,
	      store_row_fn *read_row, void *item, struct pvm_err *err);

/*
 * Fills one page of a cursor-paged list from st, which the caller bound to
 * return at most limit + 1 rows after its cursor. The extra row is not kept:
 * it only shows there is more, and then next gets the id (at id_off inside
 * an item) of the last item kept; on the last page next is not written.
 * Items are size bytes each, grown in *items, which starts empty (*n == 0);
 * on failure the caller frees the *n items already read.
 */
int store_page(struct store_ctx *x, void *st, size_t limit, size_t size, store_row_fn *read_row,
	       size_t id_off, void **items, size_t *n, char next[STORE_ID_MAX]);

#endif /* PVM_STORE_INT_H */
