/* SPDX-License-Identifier: MIT */
/*
 * Opening and closing a store, its connection pool, and transactions.
 *
 * Every store call runs in a context (struct store_ctx) that borrows one
 * connection from the pool, or joins the connection the calling thread pinned
 * with store_tx_begin. Writers first take the store's write lock, so writers
 * in this process queue on a mutex instead of spinning on SQLITE_BUSY, and
 * then open a transaction that holds the database write lock from its start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store-int.h"

/* Connections this thread pinned with store_tx_begin, one per store. */
static __thread struct store_conn *tls_pinned;

static struct store_conn *pinned_conn(struct store *s)
{
	struct store_conn *c;

	for (c = tls_pinned; c; c = c->tls_next)
		if (c->s == s)
			return c;
	return NULL;
}

static void unpin(struct store_conn *c)
{
	struct store_conn **pp;

	for (pp = &tls_pinned; *pp; pp = &(*pp)->tls_next) {
		if (*pp == c) {
			*pp = c->tls_next;
			c->tls_next = NULL;
			return;
		}
	}
}

static void conn_free(struct store_conn *c)
{
	size_t i;

	for (i = 0; i < STORE_MAX_QUERIES; i++)
		if (c->stmts[i])
			c->s->ops->finalize(c->stmts[i]);
	c->s->ops->conn_close(c->impl);
	free(c);
}

static int conn_new(struct store *s, struct store_conn **out, struct pvm_err *err)
{
	struct store_conn *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	c->s = s;
	ret = s->ops->conn_open(s, &c->impl, err);
	if (ret < 0) {
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

static int conn_get(struct store *s, struct store_conn **out, struct pvm_err *err)
{
	struct store_conn *c = NULL;
	int ret;

	pthread_mutex_lock(&s->pool_lock);
	while (!s->free_conns && s->nconns >= s->opts.pool_size)
		pthread_cond_wait(&s->pool_cond, &s->pool_lock);
	if (s->free_conns) {
		c = s->free_conns;
		s->free_conns = c->next;
		c->next = NULL;
		pthread_mutex_unlock(&s->pool_lock);
		*out = c;
		return 0;
	}
	/* Grow the pool; open outside the lock, it touches the disk. */
	s->nconns++;
	pthread_mutex_unlock(&s->pool_lock);
	ret = conn_new(s, &c, err);
	if (ret < 0) {
		pthread_mutex_lock(&s->pool_lock);
		s->nconns--;
		pthread_cond_signal(&s->pool_cond);
		pthread_mutex_unlock(&s->pool_lock);
		return ret;
	}
	*out = c;
	return 0;
}

static void conn_put(struct store *s, struct store_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next = s->free_conns;
	s->free_conns = c;
	pthread_cond_signal(&s->pool_cond);
	pthread_mutex_unlock(&s->pool_lock);
}

void store_events_publish(struct store *s, int64_t seq)
{
	pthread_mutex_lock(&s->ev_lock);
	if (seq > s->ev_seq) {
		s->ev_seq = seq;
		pthread_cond_broadcast(&s->ev_cond);
	}
	pthread_mutex_unlock(&s->ev_lock);
}

/* The transaction's events reach other processes with its commit. */
static int announce_events(struct store_conn *c, struct pvm_err *err)
{
	if (!c->tx_max_seq || !c->s->ops->notify)
		return 0;
	return c->s->ops->notify(c->impl, c->tx_max_seq, err);
}

/* Opens one transaction level on c: the transaction itself or a savepoint. */
static int level_enter(struct store_conn *c, struct pvm_err *err)
{
	char sql[48];
	int ret;

	if (c->tx_depth == 0) {
		ret = c->s->ops->begin_write(c->impl, err);
		if (ret < 0)
			return ret;
		c->tx_max_seq = 0;
	} else {
		snprintf(sql, sizeof(sql), "SAVEPOINT sp%d", c->tx_depth);
		ret = c->s->ops->exec(c->impl, sql, err);
		if (ret < 0)
			return ret;
	}
	c->tx_depth++;
	return 0;
}

/* Closes the innermost level: commit/release when rc == 0, else roll back. */
static int level_leave(struct store_conn *c, int rc, struct pvm_err *err)
{
	const struct store_backend_ops *ops = c->s->ops;
	struct pvm_err cerr = {0};
	char sql[80];
	int ret;

	c->tx_depth--;
	if (c->tx_depth == 0) {
		if (rc == 0) {
			ret = announce_events(c, &cerr);
			if (ret == 0)
				ret = ops->exec(c->impl, "COMMIT", &cerr);
			if (ret == 0) {
				if (c->tx_max_seq)
					store_events_publish(c->s, c->tx_max_seq);
				c->tx_max_seq = 0;
				return 0;
			}
			if (err)
				*err = cerr;
			rc = ret;
		}
		ops->exec(c->impl, "ROLLBACK", NULL);
		c->tx_max_seq = 0;
		return rc;
	}
	if (rc == 0) {
		snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp%d", c->tx_depth);
		ret = ops->exec(c->impl, sql, &cerr);
		if (ret == 0)
			return 0;
		if (err)
			*err = cerr;
		rc = ret;
	}
	snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT sp%d", c->tx_depth);
	ops->exec(c->impl, sql, NULL);
	snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp%d", c->tx_depth);
	ops->exec(c->impl, sql, NULL);
	return rc;
}

int store_ctx_read(struct store *s, struct store_ctx *x, struct pvm_err *err)
{
	memset(x, 0, sizeof(*x));
	x->s = s;
	x->err = err;
	x->c = pinned_conn(s);
	if (x->c)
		return 0;
	x->borrowed = true;
	return conn_get(s, &x->c, err);
}

int store_ctx_write(struct store *s, struct store_ctx *x, struct pvm_err *err)
{
	int ret;

	memset(x, 0, sizeof(*x));
	x->s = s;
	x->err = err;
	x->c = pinned_conn(s);
	if (!x->c) {
		pthread_mutex_lock(&s->write_lock);
		ret = conn_get(s, &x->c, err);
		if (ret < 0) {
			pthread_mutex_unlock(&s->write_lock);
			return ret;
		}
		x->borrowed = true;
	}
	ret = level_enter(x->c, err);
	if (ret < 0) {
		if (x->borrowed) {
			conn_put(s, x->c);
			pthread_mutex_unlock(&s->write_lock);
		}
		x->c = NULL;
		return ret;
	}
	x->writing = true;
	return 0;
}

int store_ctx_end(struct store_ctx *x, int rc)
{
	int i;

	if (!x->c)
		return rc;
	/* Statements left mid-result would pin an old read snapshot. */
	for (i = 0; i < x->nused; i++)
		x->s->ops->reset(x->used[i]);
	x->nused = 0;
	if (x->writing)
		rc = level_leave(x->c, rc, x->err);
	if (x->borrowed) {
		conn_put(x->s, x->c);
		if (x->writing)
			pthread_mutex_unlock(&x->s->write_lock);
	}
	x->c = NULL;
	return rc;
}

/* ---- public: transactions ------------------------------------------------ */

int store_tx_begin(struct store *s, struct pvm_err *err)
{
	struct store_conn *c = pinned_conn(s);
	int ret;

	if (c)
		return level_enter(c, err);
	pthread_mutex_lock(&s->write_lock);
	ret = conn_get(s, &c, err);
	if (ret < 0)
		goto fail;
	ret = level_enter(c, err);
	if (ret < 0) {
		conn_put(s, c);
		goto fail;
	}
	c->tx_user = true;
	c->tls_next = tls_pinned;
	tls_pinned = c;
	return 0;
fail:
	pthread_mutex_unlock(&s->write_lock);
	return ret;
}

static int tx_end(struct store *s, int rc, struct pvm_err *err)
{
	struct store_conn *c = pinned_conn(s);

	if (!c)
		return pvm_err_set(err, -EINVAL, "no transaction is open on this thread");
	rc = level_leave(c, rc, err);
	if (c->tx_depth == 0) {
		c->tx_user = false;
		unpin(c);
		conn_put(s, c);
		pthread_mutex_unlock(&s->write_lock);
	}
	return rc;
}

int store_tx_commit(struct store *s, struct pvm_err *err)
{
	return tx_end(s, 0, err);
}

void store_tx_rollback(struct store *s)
{
	tx_end(s, -ECANCELED, NULL);
}

/* ---- public: open and close ---------------------------------------------- */

/* The location for messages: a URI's password replaced by "***". */
static char *location_display(const char *location)
{
	const char *scheme = strstr(location, "://"), *at, *colon;
	struct pvm_buf b = {0};

	if (!scheme)
		return strdup(location);
	at = strchr(scheme + 3, '@');
	colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	if (!colon)
		return strdup(location);
	pvm_buf_append(&b, location, (size_t)(colon + 1 - location));
	pvm_buf_printf(&b, "***%s", at);
	return pvm_buf_steal(&b);
}

static int parse_location(const char *location, const struct store_backend_ops **ops,
			  const char **path, struct pvm_err *err)
{
	if (!location || !*location)
		return pvm_err_set(err, -EINVAL, "store location is empty");
	if (!strncmp(location, "postgres://", 11) || !strncmp(location, "postgresql://", 13)) {
		*ops = &store_postgres_ops;
		*path = location;
		return 0;
	}
	if (!strncmp(location, "sqlite:", 7))
		location += 7;
	if (!*location)
		return pvm_err_set(err, -EINVAL, "store location has an empty path");
	*ops = &store_sqlite_ops;
	*path = location;
	return 0;
}

int store_open(const char *location, const struct store_options *opts, struct store **out,
	       struct pvm_err *err)
{
	const struct store_backend_ops *ops = NULL;
	struct store_conn *c = NULL;
	pthread_condattr_t cattr;
	const char *path = NULL;
	struct store *s;
	int ret;

	*out = NULL;
	ret = parse_location(location, &ops, &path, err);
	if (ret < 0)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	s->ops = ops;
	if (opts)
		s->opts = *opts;
	if (s->opts.busy_timeout_ms <= 0)
		s->opts.busy_timeout_ms = 5000;
	if (s->opts.pool_size <= 0)
		s->opts.pool_size = 4;
	if (s->opts.rollup_window_min <= 0)
		s->opts.rollup_window_min = 1440;
	s->path = strdup(path);
	s->display = location_display(path);
	s->watch_stop[0] = s->watch_stop[1] = -1;
	if (!s->path || !s->display) {
		free(s->path);
		free(s->display);
		free(s);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_cond_init(&s->pool_cond, NULL);
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->ev_lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->ev_cond, &cattr);
	pthread_condattr_destroy(&cattr);

	ret = conn_new(s, &c, err);
	if (ret < 0)
		goto fail;
	s->nconns = 1;
	ret = ops->migrate(c->impl, err);
	if (ret < 0)
		goto fail;
	conn_put(s, c);
	c = NULL;
	*out = s;
	return 0;
fail:
	if (c)
		conn_free(c);
	s->nconns = 0;
	pvm_err_prefix(err, "open store %s", s->display);
	store_close(s);
	return ret;
}

void store_close(struct store *s)
{
	struct store_conn *c;

	if (!s)
		return;
	store_events_unwatch(s);
	while ((c = s->free_conns)) {
		s->free_conns = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&s->pool_lock);
	pthread_cond_destroy(&s->pool_cond);
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->ev_lock);
	pthread_cond_destroy(&s->ev_cond);
	free(s->path);
	free(s->display);
	free(s);
}

int store_schema_version(struct store *s, int *version, struct pvm_err *err)
{
	struct store_ctx x;
	int ret;

	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = s->ops->schema_version(x.c->impl, version, err);
	return store_ctx_end(&x, ret);
}

int store_check_integrity(struct store *s, struct pvm_err *err)
{
	struct store_ctx x;
	int ret;

	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = s->ops->integrity_check(x.c->impl, err);
	return store_ctx_end(&x, ret);
}

int store_backup(struct store *s, const char *to, struct pvm_err *err)
{
	struct store_ctx x;
	int ret;

	if (!s->ops->backup)
		return pvm_err_set(err, -EOPNOTSUPP,
				   "backup of a %s store is not supported yet (use pg_dump)",
				   s->ops->name);
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = s->ops->backup(x.c->impl, to, err);
	if (ret < 0)
		pvm_err_prefix(err, "backup of %s to %s", s->display, to);
	return store_ctx_end(&x, ret);
}

int store_restore(const char *from, const char *location, bool replace, struct pvm_err *err)
{
	const struct store_backend_ops *ops = NULL;
	const char *path = NULL;
	struct store *s = NULL;
	int ret;

	ret = parse_location(location, &ops, &path, err);
	if (ret < 0)
		return ret;
	if (!ops->restore)
		return pvm_err_set(err, -EOPNOTSUPP,
				   "restore into a %s store is not supported yet (use pg_restore)",
				   ops->name);
	ret = ops->restore(from, path, replace, err);
	if (ret < 0)
		return pvm_err_prefix(err, "restore of %s", from);
	ret = store_open(location, NULL, &s, err);
	if (ret == 0)
		ret = store_check_integrity(s, err);
	store_close(s);
	return ret;
}
