/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend (libpq).
 *
 * - SQL: the table files' portable text, `?` placeholders numbered `$n`
 *   here. The schema is the same migration list SQLite runs, with its types
 *   widened (INTEGER is 64-bit in SQLite, BIGINT here; AUTOINCREMENT is an
 *   identity column) and text compared byte-wise (COLLATE "C", SQLite's
 *   BINARY), so that ordering and paging agree between the backends.
 * - Statements are prepared on the server once per connection, lazily at
 *   their first step: parameter types come from that first binding (int8
 *   for integers, inferred from the context for text and NULL).
 * - Writers serialize on one transaction-level advisory lock taken right
 *   after BEGIN, as SQLite's BEGIN IMMEDIATE does. So event sequence numbers
 *   are handed out in commit order, and a follower reading "seq > last"
 *   never skips an event committed late with a smaller number.
 * - Events: a writer's transaction sends NOTIFY with its highest sequence
 *   number, delivered at commit; watchers LISTEN on a connection of their own.
 * - A connection that breaks outside a transaction is reset and the
 *   statement retried once; inside one, the transaction fails (no statement
 *   may run in autocommit in its place).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store-int.h"

#define PG_INT8OID	  20
#define PG_MAX_PARAMS	  32
#define PG_WRITE_LOCK_KEY 7365731 /* the advisory lock all writers share */
#define PG_EVENTS_CHANNEL "pvm_events"

struct pg_conn {
	PGconn *pg;
	unsigned epoch;	    /* bumped by every reset: server statements are gone */
	unsigned next_name; /* statement names, s1, s2, ... */
	bool in_tx;	    /* between BEGIN and COMMIT/ROLLBACK */
	int64_t changes;    /* rows the last statement changed */
	int lock_timeout_ms;
};

struct pg_stmt {
	struct pg_conn *c;
	char *sql; /* $n placeholders */
	char name[16];
	int nparams;
	unsigned prepared_epoch; /* 0: not prepared on the server */
	const char *vals[PG_MAX_PARAMS];
	char ints[PG_MAX_PARAMS][24];
	unsigned types[PG_MAX_PARAMS];
	PGresult *res;
	int row, nrows;
};

static int map_result(PGconn *pg, PGresult *res, struct pvm_err *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (!msg)
		msg = PQerrorMessage(pg);
	if (!state)
		return pvm_err_set(err, -EIO, "postgres: %s", msg);
	if (!strcmp(state, "23505"))
		return pvm_err_set(err, -EEXIST, "already exists (%s)", msg);
	if (!strcmp(state, "23503"))
		return pvm_err_set(err, -ENOENT, "refers to a missing row (%s)", msg);
	if (!strncmp(state, "23", 2))
		return pvm_err_set(err, -EINVAL, "constraint failed (%s)", msg);
	if (!strncmp(state, "22", 2))
		return pvm_err_set(err, -EINVAL, "invalid value (%s)", msg);
	/* lock_not_available (lock_timeout), serialization, deadlock */
	if (!strcmp(state, "55P03") || !strcmp(state, "40001") || !strcmp(state, "40P01"))
		return pvm_err_set(err, -EAGAIN, "database is locked by another process (%s)", msg);
	if (!strcmp(state, "53100"))
		return pvm_err_set(err, -EDQUOT, "the database's disk is full (%s)", msg);
	if (!strcmp(state, "53200"))
		return pvm_err_set(err, -ENOMEM, "postgres: out of memory (%s)", msg);
	return pvm_err_set(err, -EIO, "postgres: %s (SQLSTATE %s)", msg, state);
}

/* A broken connection outside a transaction is reset; 0 when usable. */
static int conn_usable(struct pg_conn *c, struct pvm_err *err)
{
	if (PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	if (c->in_tx)
		return pvm_err_set(err, -EIO, "postgres: connection lost in a transaction: %s",
				   PQerrorMessage(c->pg));
	PQreset(c->pg);
	c->epoch++;
	if (PQstatus(c->pg) != CONNECTION_OK)
		return pvm_err_set(err, -EIO, "postgres: connection lost: %s",
				   PQerrorMessage(c->pg));
	return 0;
}

/* Runs one command (or several, `;`-separated) without parameters. */
static int run(struct pg_conn *c, const char *sql, struct pvm_err *err)
{
	PGresult *res;
	int ret = 0;

	res = PQexec(c->pg, sql);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		break;
	default:
		ret = map_result(c->pg, res, err);
	}
	PQclear(res);
	return ret;
}

static int pg_exec(void *conn, const char *sql, struct pvm_err *err)
{
	struct pg_conn *c = conn;
	bool ends = !strcmp(sql, "COMMIT") || !strcmp(sql, "ROLLBACK");
	int ret;

	if (!strcmp(sql, "ROLLBACK") && PQstatus(c->pg) != CONNECTION_OK) {
		/* The server rolled it back when the connection went. */
		c->in_tx = false;
		return conn_usable(c, err);
	}
	ret = conn_usable(c, err);
	if (ret < 0)
		return ret;
	/* COMMIT of a transaction an error aborted answers "ROLLBACK" with
	 * success: refuse it instead of reporting a commit that did not happen. */
	if (!strcmp(sql, "COMMIT") && PQtransactionStatus(c->pg) == PQTRANS_INERROR)
		return pvm_err_set(err, -EIO, "postgres: transaction aborted by an earlier error");
	ret = run(c, sql, err);
	if (ends)
		c->in_tx = false;
	return ret;
}

static int set_session(struct pg_conn *c, struct pvm_err *err)
{
	char sql[256];

	/* A writer that stops talking mid-transaction must not hold the write
	 * lock for ever; lock waits end as SQLite's busy timeout does. */
	snprintf(sql, sizeof(sql),
		 "SET lock_timeout = %d; SET idle_in_transaction_session_timeout = 60000;"
		 " SET client_min_messages = warning",
		 c->lock_timeout_ms);
	return run(c, sql, err);
}

/*
 * Defaults for what the URI leaves unsaid (its own values win): a server
 * that cannot be reached, or stops answering mid-statement, is an error
 * within seconds instead of the kernel's TCP timeouts of minutes, so that a
 * controller cut off from the database says so (503) instead of hanging.
 */
static const char *const connect_keys[] = {
    "connect_timeout",	"keepalives",	    "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "dbname",	       NULL};

/* Server notices (a session terminated, say) go to pvm's log, not stderr. */
static void on_notice(void *arg, const char *msg)
{
	(void)arg;
	pvm_log_warn("store: postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

static int connect_to(const char *uri, int lock_timeout_ms, struct pg_conn **out,
		      struct pvm_err *err)
{
	struct pg_conn *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	c->epoch = 1;
	c->lock_timeout_ms = lock_timeout_ms;
	c->pg = PQconnectdbParams(
	    connect_keys, (const char *const[]){"5", "1", "10", "5", "3", "15000", uri, NULL}, 1);
	if (!c->pg) {
		free(c);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		ret = pvm_err_set(err, -EIO, "postgres: %s", PQerrorMessage(c->pg));
		goto fail;
	}
	PQsetNoticeProcessor(c->pg, on_notice, NULL);
	ret = set_session(c, err);
	if (ret < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	PQfinish(c->pg);
	free(c);
	return ret;
}

static int pg_conn_open(struct store *s, void **conn, struct pvm_err *err)
{
	struct pg_conn *c = NULL;
	int ret;

	ret = connect_to(s->path, s->opts.busy_timeout_ms, &c, err);
	if (ret == 0)
		*conn = c;
	return ret;
}

static void pg_conn_close(void *conn)
{
	struct pg_conn *c = conn;

	if (!c)
		return;
	PQfinish(c->pg);
	free(c);
}

static int query_int(struct pg_conn *c, const char *sql, int64_t *v, struct pvm_err *err)
{
	PGresult *res = PQexec(c->pg, sql);
	int ret = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		ret = map_result(c->pg, res, err);
	else if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
		ret = pvm_err_set(err, -EIO, "%s: no result", sql);
	else
		*v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return ret;
}

static int pg_schema_version(void *conn, int *version, struct pvm_err *err)
{
	struct pg_conn *c = conn;
	int64_t v = 0;
	int ret;

	/* No table yet: version 0, as SQLite's user_version of a new file. */
	ret = query_int(c,
			"SELECT COUNT(*) FROM pg_tables WHERE tablename = 'pvm_schema'"
			" AND schemaname = current_schema()",
			&v, err);
	if (ret == 0 && v > 0)
		ret = query_int(c, "SELECT COALESCE(MAX(version), 0) FROM pvm_schema", &v, err);
	if (ret == 0)
		*version = (int)v;
	return ret;
}

static bool is_word_char(char c)
{
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9');
}

char *store_pg_ddl(const char *sql)
{
	static const struct {
		const char *from, *to;
	} words[] = {
	    {"INTEGER PRIMARY KEY AUTOINCREMENT",
	     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
	    {"INTEGER", "BIGINT"},
	    {"TEXT", "TEXT COLLATE \"C\""},
	};
	struct pvm_buf b = {0};
	const char *p = sql;
	bool quoted = false;

	while (*p) {
		size_t i = PVM_ARRAY_SIZE(words);

		if (*p == '\'')
			quoted = !quoted;
		if (!quoted && (p == sql || !is_word_char(p[-1])))
			for (i = 0; i < PVM_ARRAY_SIZE(words); i++) {
				size_t n = strlen(words[i].from);

				/* p[n] is read only once p holds n characters. */
				if (!strncmp(p, words[i].from, n) && !is_word_char(p[n]))
					break;
			}
		if (i < PVM_ARRAY_SIZE(words)) {
			pvm_buf_append(&b, words[i].to, strlen(words[i].to));
			p += strlen(words[i].from);
		} else {
			pvm_buf_append(&b, p++, 1);
		}
	}
	return pvm_buf_steal(&b);
}

static int pg_migrate(void *conn, struct pvm_err *err)
{
	struct pg_conn *c = conn;
	char sql[96];
	int version = 0, ret;

	ret = pg_schema_version(c, &version, err);
	if (ret < 0)
		return ret;
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	/* Another process may be migrating too: decide under the write lock. */
	ret = run(c, "BEGIN", err);
	if (ret < 0)
		return ret;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d)", PG_WRITE_LOCK_KEY);
	ret = run(c, sql, err);
	if (ret == 0)
		ret =
		    run(c, "CREATE TABLE IF NOT EXISTS pvm_schema (version BIGINT NOT NULL)", err);
	if (ret == 0)
		ret = pg_schema_version(c, &version, err);
	if (ret < 0)
		goto rollback;
	if (version > STORE_SCHEMA_VERSION) {
		run(c, "ROLLBACK", NULL);
		return store_schema_too_new(version, err);
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		char *ddl = store_pg_ddl(store_migrations[version]);

		if (!ddl) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			goto rollback;
		}
		ret = run(c, ddl, err);
		free(ddl);
		if (ret < 0) {
			pvm_err_prefix(err, "migration to schema version %d", version + 1);
			goto rollback;
		}
		pvm_log_info("store: migrated schema to version %d", version + 1);
	}
	snprintf(sql, sizeof(sql), "DELETE FROM pvm_schema; INSERT INTO pvm_schema VALUES (%d)",
		 STORE_SCHEMA_VERSION);
	ret = run(c, sql, err);
	if (ret < 0)
		goto rollback;
	return run(c, "COMMIT", err);
rollback:
	run(c, "ROLLBACK", NULL);
	return ret;
}

/*
 * PostgreSQL checks its pages itself (and data checksums when the cluster
 * has them): here the schema is checked to be the one this pvm made.
 */
static int pg_integrity_check(void *conn, struct pvm_err *err)
{
	int64_t n = 0;
	int ret;

	ret = query_int(conn,
			"SELECT count(*) FROM information_schema.tables WHERE table_schema ="
			" current_schema() AND table_name IN ('hosts', 'guests', 'events',"
			" 'placements', 'tokens', 'kv', 'images')",
			&n, err);
	if (ret == 0 && n != 7)
		ret = pvm_err_set(err, -EIO, "integrity check failed: %lld of 7 core tables",
				  (long long)n);
	return ret;
}

static int pg_begin_write(void *conn, struct pvm_err *err)
{
	struct pg_conn *c = conn;
	char sql[96];
	int ret;

	ret = conn_usable(c, err);
	if (ret < 0)
		return ret;
	snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%d)", PG_WRITE_LOCK_KEY);
	c->in_tx = true;
	ret = run(c, sql, err);
	if (ret < 0) {
		run(c, "ROLLBACK", NULL);
		c->in_tx = false;
	}
	return ret;
}

/* `?` to `$n`, outside quoted literals. */
static int translate_params(const char *sql, char **out, int *nparams)
{
	struct pvm_buf b = {0};
	bool quoted = false;
	int n = 0;

	for (const char *p = sql; *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (*p == '?' && !quoted)
			pvm_buf_printf(&b, "$%d", ++n);
		else
			pvm_buf_append(&b, p, 1);
	}
	*out = pvm_buf_steal(&b);
	*nparams = n;
	return *out ? 0 : -ENOMEM;
}

static int pg_prepare(void *conn, const char *sql, void **stmt, struct pvm_err *err)
{
	struct pg_stmt *st;
	struct pg_conn *c = conn;

	st = calloc(1, sizeof(*st));
	if (!st)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	if (translate_params(sql, &st->sql, &st->nparams) < 0) {
		free(st);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	if (st->nparams > PG_MAX_PARAMS) {
		free(st->sql);
		free(st);
		return pvm_err_set(err, -E2BIG, "store: a query with more than %d parameters",
				   PG_MAX_PARAMS);
	}
	st->c = c;
	snprintf(st->name, sizeof(st->name), "s%u", ++c->next_name);
	*stmt = st;
	return 0;
}

static void pg_reset(void *stmt)
{
	struct pg_stmt *st = stmt;

	PQclear(st->res);
	st->res = NULL;
	st->row = st->nrows = 0;
	memset(st->vals, 0, sizeof(st->vals));
	memset(st->types, 0, sizeof(st->types));
}

static void pg_finalize(void *stmt)
{
	struct pg_stmt *st = stmt;

	if (!st)
		return;
	pg_reset(st);
	free(st->sql);
	free(st);
}

static void pg_bind_int(void *stmt, int idx, int64_t v)
{
	struct pg_stmt *st = stmt;

	if (idx < 1 || idx > st->nparams)
		return;
	snprintf(st->ints[idx - 1], sizeof(st->ints[0]), "%lld", (long long)v);
	st->vals[idx - 1] = st->ints[idx - 1];
	st->types[idx - 1] = PG_INT8OID;
}

static void pg_bind_text(void *stmt, int idx, const char *v)
{
	struct pg_stmt *st = stmt;

	/* As in SQLite (SQLITE_STATIC): the caller steps before v goes away. */
	if (idx < 1 || idx > st->nparams)
		return;
	st->vals[idx - 1] = v;
	st->types[idx - 1] = 0;
}

static int execute(struct pg_stmt *st, struct pvm_err *err)
{
	struct pg_conn *c = st->c;
	PGresult *res;
	int ret;

	ret = conn_usable(c, err);
	if (ret < 0)
		return ret;
	if (st->prepared_epoch != c->epoch) {
		res = PQprepare(c->pg, st->name, st->sql, st->nparams, st->types);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			ret = map_result(c->pg, res, err);
			PQclear(res);
			return ret;
		}
		PQclear(res);
		st->prepared_epoch = c->epoch;
	}
	res = PQexecPrepared(c->pg, st->name, st->nparams, st->vals, NULL, NULL, 0);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		break;
	default:
		ret = map_result(c->pg, res, err);
		PQclear(res);
		return ret;
	}
	c->changes = strtoll(PQcmdTuples(res), NULL, 10);
	st->res = res;
	st->nrows = PQntuples(res);
	st->row = -1;
	return 0;
}

static int pg_step(void *stmt, struct pvm_err *err)
{
	struct pg_stmt *st = stmt;
	int ret;

	if (!st->res) {
		ret = execute(st, err);
		/* Once, for a connection the server dropped between statements. */
		if (ret == -EIO && !st->c->in_tx && PQstatus(st->c->pg) != CONNECTION_OK)
			ret = execute(st, err);
		if (ret < 0)
			return ret;
	}
	if (st->row < st->nrows)
		st->row++;
	return st->row < st->nrows ? 1 : 0;
}

static int64_t pg_col_int(void *stmt, int col)
{
	struct pg_stmt *st = stmt;

	if (!st->res || st->row >= st->nrows || PQgetisnull(st->res, st->row, col))
		return 0;
	return strtoll(PQgetvalue(st->res, st->row, col), NULL, 10);
}

static const char *pg_col_text(void *stmt, int col)
{
	struct pg_stmt *st = stmt;

	if (!st->res || st->row >= st->nrows || PQgetisnull(st->res, st->row, col))
		return NULL;
	return PQgetvalue(st->res, st->row, col);
}

static int64_t pg_changes(void *conn)
{
	return ((struct pg_conn *)conn)->changes;
}

static int pg_notify(void *conn, int64_t seq, struct pvm_err *err)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "NOTIFY " PG_EVENTS_CHANNEL ", '%lld'", (long long)seq);
	return run(conn, sql, err);
}

/* ---- watchers ------------------------------------------------------------ */

static int pg_watch_open(struct store *s, void **w, struct pvm_err *err)
{
	struct pg_conn *c = NULL;
	int ret;

	ret = connect_to(s->path, s->opts.busy_timeout_ms, &c, err);
	if (ret < 0)
		return ret;
	ret = run(c, "LISTEN " PG_EVENTS_CHANNEL, err);
	if (ret < 0) {
		pg_conn_close(c);
		return ret;
	}
	*w = c;
	return 0;
}

static int pg_watch_wait(void *w, int stop_fd, int64_t *seq)
{
	struct pg_conn *c = w;
	struct pollfd p[2] = {
	    {.fd = PQsocket(c->pg), .events = POLLIN},
	    {.fd = stop_fd, .events = POLLIN},
	};
	PGnotify *n;

	if (p[0].fd < 0)
		return -EIO;
	if (poll(p, 2, -1) < 0)
		return errno == EINTR ? 1 : -errno;
	if (p[1].revents)
		return 0;
	if (!PQconsumeInput(c->pg))
		return -EIO;
	*seq = 0;
	while ((n = PQnotifies(c->pg))) {
		int64_t v = strtoll(n->extra, NULL, 10);

		if (v > *seq)
			*seq = v;
		PQfreemem(n);
	}
	/* Input without a notification leaves *seq 0: the caller reads the
	 * newest sequence number itself. */
	return 1;
}

static void pg_watch_close(void *w)
{
	pg_conn_close(w);
}

const struct store_backend_ops store_postgres_ops = {
    .name = "postgres",
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .integrity_check = pg_integrity_check,
    .begin_write = pg_begin_write,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .bind_int = pg_bind_int,
    .bind_text = pg_bind_text,
    .step = pg_step,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .changes = pg_changes,
    .notify = pg_notify,
    .watch_open = pg_watch_open,
    .watch_wait = pg_watch_wait,
    .watch_close = pg_watch_close,
};
