/* SPDX-License-Identifier: MIT */
/*
 * Events: an append-only log with a monotonic sequence that watchers resume
 * from. Appends happen inside the transaction of the change they describe.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store-int.h"

static struct store_query q_insert = STORE_QUERY(
    "INSERT INTO events (type, subject, payload, time_ms) VALUES (?, ?, ?, ?) RETURNING seq");
static struct store_query q_since =
    STORE_QUERY("SELECT seq, type, subject, payload, time_ms FROM events WHERE seq > ? "
		"ORDER BY seq LIMIT ?");
static struct store_query q_last = STORE_QUERY("SELECT COALESCE(MAX(seq), 0) FROM events");
static struct store_query q_prune =
    STORE_QUERY("DELETE FROM events WHERE time_ms < ? AND seq < (SELECT MAX(seq) FROM events)");

int store_event_add(struct store_ctx *x, const char *type, const char *subject, const char *payload,
		    int64_t *seq)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, &q_insert, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, type);
	store_db_bind_text(x, st, 2, subject ? subject : "");
	store_db_bind_text(x, st, 3, payload ? payload : "{}");
	store_db_bind_int(x, st, 4, store_now_ms());
	ret = store_db_step(x, st);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return pvm_err_set(x->err, -EIO, "event insert returned no sequence");
	if (store_db_int(x, st, 0) > x->c->tx_max_seq)
		x->c->tx_max_seq = store_db_int(x, st, 0);
	if (seq)
		*seq = store_db_int(x, st, 0);
	return 0;
}

int store_event_gen(struct store_ctx *x, const char *type, const char *subject, int64_t gen,
		    const char *key, const char *value)
{
	struct pvm_buf b;
	int ret;

	pvm_buf_init(&b);
	pvm_buf_printf(&b, "{\"generation\":%lld", (long long)gen);
	if (key) {
		pvm_buf_printf(&b, ",\"%s\":\"", key);
		pvm_buf_json_escape(&b, value);
		pvm_buf_append(&b, "\"", 1);
	}
	pvm_buf_append(&b, "}", 1);
	if (b.failed)
		ret = pvm_err_set(x->err, -ENOMEM, "out of memory");
	else
		ret = store_event_add(x, type, subject, b.data, NULL);
	pvm_buf_free(&b);
	return ret;
}

int store_event_append(struct store *s, const char *type, const char *subject, const char *payload,
		       int64_t *seq, struct pvm_err *err)
{
	struct store_ctx x;
	int ret;

	ret = store_check_str(type, STORE_TYPE_MAX, "type", err);
	if (ret < 0)
		return ret;
	if (subject && strlen(subject) >= STORE_ID_MAX)
		return pvm_err_field(err, -EINVAL, "subject", "subject is longer than %d bytes",
				     STORE_ID_MAX - 1);
	ret = store_check_json(payload, true, "payload", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_event_add(&x, type, subject, payload, seq);
	return store_ctx_end(&x, ret);
}

int store_events_since(struct store *s, int64_t since, size_t limit, struct store_event_list *out,
		       struct pvm_err *err)
{
	struct store_list_opts o = {.limit = limit};
	struct store_ctx x;
	size_t cap = 0;
	void *st;
	int ret;

	memset(out, 0, sizeof(*out));
	out->last_seq = since;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_since, &st);
	if (ret < 0)
		goto out;
	store_db_bind_int(&x, st, 1, since);
	store_db_bind_int(&x, st, 2, (int64_t)store_list_limit(&o));
	while ((ret = store_db_step(&x, st)) > 0) {
		struct store_event *e;

		if (store_grow((void **)&out->items, &cap, out->n, sizeof(*e)) < 0) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		e = &out->items[out->n++];
		e->seq = store_db_int(&x, st, 0);
		store_db_copy(&x, st, 1, e->type, sizeof(e->type));
		store_db_copy(&x, st, 2, e->subject, sizeof(e->subject));
		e->time_ms = store_db_int(&x, st, 4);
		ret = store_db_dup(&x, st, 3, &e->payload);
		if (ret < 0)
			break;
		out->last_seq = e->seq;
	}
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		store_event_list_free(out);
	return ret;
}

int store_events_last_seq(struct store *s, int64_t *seq, struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_last, &st);
	if (ret == 0)
		ret = store_db_step(&x, st);
	if (ret > 0) {
		*seq = store_db_int(&x, st, 0);
		ret = 0;
	} else if (ret == 0) {
		*seq = 0;
	}
	return store_ctx_end(&x, ret);
}

int store_events_wait(struct store *s, int64_t since, int64_t timeout_ms, struct pvm_err *err)
{
	struct timespec deadline;
	int64_t last = 0;
	int ret = 0;

	ret = store_events_watch(s, err);
	if (ret < 0)
		return ret;
	ret = store_events_last_seq(s, &last, err);
	if (ret < 0)
		return ret;
	if (last > since)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->ev_lock);
	/* The first check may predate this process's last commit. */
	if (s->ev_seq < last)
		s->ev_seq = last;
	while (s->ev_seq <= since && ret == 0)
		ret = -pthread_cond_timedwait(&s->ev_cond, &s->ev_lock, &deadline);
	if (s->ev_seq > since)
		ret = 0;
	pthread_mutex_unlock(&s->ev_lock);
	if (ret == -ETIMEDOUT)
		return pvm_err_set(err, -ETIMEDOUT, "no event after %lld", (long long)since);
	return ret;
}

int store_events_prune(struct store *s, int64_t before_ms, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t n = 0;
	void *st;
	int ret;

	/* The newest event stays so that MAX(seq) never goes backwards for
	 * backends without a persistent sequence. */
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_prune, &st);
	if (ret == 0) {
		store_db_bind_int(&x, st, 1, before_ms);
		ret = store_db_run(&x, st);
		n = ret == 0 ? store_db_changes(&x) : 0;
	}
	ret = store_ctx_end(&x, ret);
	return ret < 0 ? ret : (int)n;
}

void store_event_free(struct store_event *e)
{
	if (!e)
		return;
	free(e->payload);
	e->payload = NULL;
}

void store_event_list_free(struct store_event_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		store_event_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
