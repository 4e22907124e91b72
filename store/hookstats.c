/* SPDX-License-Identifier: MIT */
/*
 * Hook statistics: the latest cumulative counters per guest and hook, and
 * per-minute rollups of their increase, kept for a bounded window.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

#define STAT_COLS                                                                                  \
	"guest_id, hook, calls, doorbells, bytes, errors, exits_avoided, histogram, updated_ms"

static struct store_query q_guest = STORE_QUERY("SELECT 1 FROM guests WHERE id = ?");
static struct store_query q_prev =
    STORE_QUERY("SELECT calls, doorbells, bytes, errors, exits_avoided FROM hook_stats "
		"WHERE guest_id = ? AND hook = ?");
static struct store_query q_upsert =
    STORE_QUERY("INSERT INTO hook_stats (" STAT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
		"ON CONFLICT (guest_id, hook) DO UPDATE SET calls = excluded.calls, "
		"doorbells = excluded.doorbells, bytes = excluded.bytes, errors = excluded.errors, "
		"exits_avoided = excluded.exits_avoided, histogram = excluded.histogram, "
		"updated_ms = excluded.updated_ms");
static struct store_query q_rollup = STORE_QUERY(
    "INSERT INTO hook_rollups (guest_id, hook, minute_ms, calls, doorbells, bytes, errors, "
    "exits_avoided) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (guest_id, hook, minute_ms) DO UPDATE SET "
    "calls = hook_rollups.calls + excluded.calls, "
    "doorbells = hook_rollups.doorbells + excluded.doorbells, "
    "bytes = hook_rollups.bytes + excluded.bytes, "
    "errors = hook_rollups.errors + excluded.errors, "
    "exits_avoided = hook_rollups.exits_avoided + excluded.exits_avoided");
static struct store_query q_prune = STORE_QUERY("DELETE FROM hook_rollups WHERE minute_ms < ?");
static struct store_query q_get =
    STORE_QUERY("SELECT " STAT_COLS " FROM hook_stats WHERE guest_id = ? ORDER BY hook");
static struct store_query q_all =
    STORE_QUERY("SELECT " STAT_COLS " FROM hook_stats ORDER BY guest_id, hook");
static struct store_query q_rollups = STORE_QUERY(
    "SELECT minute_ms, calls, doorbells, bytes, errors, exits_avoided FROM hook_rollups "
    "WHERE guest_id = ? AND hook = ? AND minute_ms >= ? ORDER BY minute_ms");

static int64_t increase(int64_t now, int64_t prev)
{
	/* A counter that went down was reset by a VMM restart. */
	return now >= prev ? now - prev : now;
}

static int stat_check(const struct store_hook_stat *st, size_t i, struct pvm_err *err)
{
	char field[32];
	int ret;

	snprintf(field, sizeof(field), "stats[%zu].hook", i);
	ret = store_check_str(st->hook, sizeof(st->hook), field, err);
	if (ret < 0)
		return ret;
	if (st->calls < 0 || st->doorbells < 0 || st->bytes < 0 || st->errors < 0 ||
	    st->exits_avoided < 0)
		return pvm_err_field(err, -EINVAL, field, "hook %s: counters must not be negative",
				     st->hook);
	return store_check_json(st->histogram, false, "histogram", err);
}

static int put_one(struct store_ctx *x, const char *guest_id, const struct store_hook_stat *in,
		   int64_t now, int64_t minute)
{
	int64_t prev[5] = {0},
		cur[5] = {in->calls, in->doorbells, in->bytes, in->errors, in->exits_avoided};
	void *st;
	int i, ret;

	ret = store_db_stmt(x, &q_prev, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, guest_id);
	store_db_bind_text(x, st, 2, in->hook);
	ret = store_db_step(x, st);
	if (ret < 0)
		return ret;
	for (i = 0; ret > 0 && i < 5; i++)
		prev[i] = store_db_int(x, st, i);

	ret = store_db_stmt(x, &q_upsert, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, guest_id);
	store_db_bind_text(x, st, 2, in->hook);
	for (i = 0; i < 5; i++)
		store_db_bind_int(x, st, 3 + i, cur[i]);
	store_db_bind_text(x, st, 8, in->histogram ? in->histogram : "{}");
	store_db_bind_int(x, st, 9, now);
	ret = store_db_run(x, st);
	if (ret < 0)
		return ret;

	ret = store_db_stmt(x, &q_rollup, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, guest_id);
	store_db_bind_text(x, st, 2, in->hook);
	store_db_bind_int(x, st, 3, minute);
	for (i = 0; i < 5; i++)
		store_db_bind_int(x, st, 4 + i, increase(cur[i], prev[i]));
	return store_db_run(x, st);
}

static int prune_x(struct store_ctx *x, int64_t before_ms)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, &q_prune, &st);
	if (ret < 0)
		return ret;
	store_db_bind_int(x, st, 1, before_ms);
	ret = store_db_run(x, st);
	return ret < 0 ? ret : (int)store_db_changes(x);
}

int store_hook_stats_put(struct store *s, const char *guest_id, const struct store_hook_stat *st,
			 size_t n, int64_t now_ms, struct pvm_err *err)
{
	int64_t now = now_ms ? now_ms : store_now_ms();
	int64_t minute = now - now % 60000;
	struct store_ctx x;
	size_t i;
	void *q;
	int ret;

	ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);
	for (i = 0; ret == 0 && i < n; i++)
		ret = stat_check(&st[i], i, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_guest, &q);
	if (ret == 0) {
		store_db_bind_text(&x, q, 1, guest_id);
		ret = store_db_step(&x, q);
		if (ret == 0)
			ret = pvm_err_set(err, -ENOENT, "guest %s not found", guest_id);
		else if (ret > 0)
			ret = 0;
	}
	for (i = 0; ret == 0 && i < n; i++)
		ret = put_one(&x, guest_id, &st[i], now, minute);
	/* Writers hold the write lock, which guards last_prune_minute. */
	if (ret == 0 && minute != s->last_prune_minute) {
		ret = prune_x(&x, minute - (int64_t)s->opts.rollup_window_min * 60000);
		if (ret >= 0) {
			s->last_prune_minute = minute;
			ret = 0;
		}
	}
	return store_ctx_end(&x, ret);
}

static int stat_read(struct store_ctx *x, void *st, struct store_hook_stat *o)
{
	memset(o, 0, sizeof(*o));
	store_db_copy(x, st, 0, o->guest_id, sizeof(o->guest_id));
	store_db_copy(x, st, 1, o->hook, sizeof(o->hook));
	o->calls = store_db_int(x, st, 2);
	o->doorbells = store_db_int(x, st, 3);
	o->bytes = store_db_int(x, st, 4);
	o->errors = store_db_int(x, st, 5);
	o->exits_avoided = store_db_int(x, st, 6);
	o->updated_ms = store_db_int(x, st, 8);
	return store_db_dup(x, st, 7, &o->histogram);
}

int store_hook_stats_get(struct store *s, const char *guest_id, struct store_hook_stat **out,
			 size_t *n, struct pvm_err *err)
{
	struct store_hook_stat *items = NULL;
	size_t cap = 0, count = 0;
	struct store_ctx x;
	void *st;
	int ret;

	*out = NULL;
	*n = 0;
	ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_guest, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, guest_id);
		ret = store_db_step(&x, st);
		if (ret == 0)
			ret = pvm_err_set(err, -ENOENT, "guest %s not found", guest_id);
	}
	if (ret > 0)
		ret = store_db_stmt(&x, &q_get, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, guest_id);
	while ((ret = store_db_step(&x, st)) > 0) {
		if (store_grow((void **)&items, &cap, count, sizeof(*items)) < 0) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		ret = stat_read(&x, st, &items[count++]);
		if (ret < 0)
			break;
	}
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0) {
		store_hook_stats_free(items, count);
		return ret;
	}
	*out = items;
	*n = count;
	return 0;
}

int store_hook_stats_foreach(struct store *s,
			     int (*fn)(const struct store_hook_stat *st, void *arg), void *arg,
			     struct pvm_err *err)
{
	struct store_hook_stat rec;
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_all, &st);
	if (ret < 0)
		goto out;
	while ((ret = store_db_step(&x, st)) > 0) {
		ret = stat_read(&x, st, &rec);
		if (ret == 0)
			ret = fn(&rec, arg);
		free(rec.histogram);
		if (ret != 0)
			break;
	}
out:
	return store_ctx_end(&x, ret);
}

void store_hook_stats_free(struct store_hook_stat *st, size_t n)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < n; i++)
		free(st[i].histogram);
	free(st);
}

int store_hook_rollups_get(struct store *s, const char *guest_id, const char *hook,
			   int64_t since_ms, struct store_hook_rollup **out, size_t *n,
			   struct pvm_err *err)
{
	struct store_hook_rollup *items = NULL;
	size_t cap = 0, count = 0;
	struct store_ctx x;
	void *st;
	int i, ret;

	*out = NULL;
	*n = 0;
	ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);
	if (ret == 0)
		ret = store_check_str(hook, STORE_HOOK_MAX, "hook", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_rollups, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, guest_id);
	store_db_bind_text(&x, st, 2, hook);
	store_db_bind_int(&x, st, 3, since_ms);
	while ((ret = store_db_step(&x, st)) > 0) {
		int64_t v[6];

		if (store_grow((void **)&items, &cap, count, sizeof(*items)) < 0) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		for (i = 0; i < 6; i++)
			v[i] = store_db_int(&x, st, i);
		items[count++] = (struct store_hook_rollup){
		    .minute_ms = v[0],
		    .calls = v[1],
		    .doorbells = v[2],
		    .bytes = v[3],
		    .errors = v[4],
		    .exits_avoided = v[5],
		};
	}
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0) {
		free(items);
		return ret;
	}
	*out = items;
	*n = count;
	return 0;
}

int store_hook_rollups_prune(struct store *s, int64_t before_ms, struct pvm_err *err)
{
	struct store_ctx x;
	int n, ret;

	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	n = prune_x(&x, before_ms);
	ret = store_ctx_end(&x, n < 0 ? n : 0);
	return ret < 0 ? ret : n;
}
