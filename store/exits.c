/* SPDX-License-Identifier: MIT */
/*
 * vCPU exits by reason: the latest cumulative counts per guest, as its host
 * relays them from the VMM. A report replaces the guest's whole set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

static struct store_query q_guest = STORE_QUERY("SELECT 1 FROM guests WHERE id = ?");
static struct store_query q_clear = STORE_QUERY("DELETE FROM guest_exits WHERE guest_id = ?");
static struct store_query q_insert = STORE_QUERY(
    "INSERT INTO guest_exits (guest_id, reason, count, updated_ms) VALUES (?, ?, ?, ?)");
static struct store_query q_get =
    STORE_QUERY("SELECT guest_id, reason, count, updated_ms FROM guest_exits "
		"WHERE guest_id = ? ORDER BY reason");
static struct store_query q_all = STORE_QUERY(
    "SELECT guest_id, reason, count, updated_ms FROM guest_exits ORDER BY guest_id, reason");

static int reason_check(const struct store_exit_count *e, size_t i, struct pvm_err *err)
{
	char field[32];
	int ret;

	snprintf(field, sizeof(field), "exits[%zu].reason", i);
	ret = store_check_str(e->reason, sizeof(e->reason), field, err);
	if (ret < 0)
		return ret;
	for (const char *c = e->reason; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return pvm_err_field(err, -EINVAL, field,
					     "exit reason \"%s\": only [a-z0-9_]", e->reason);
	if (e->count < 0)
		return pvm_err_field(err, -EINVAL, field, "exit reason %s: negative count",
				     e->reason);
	return 0;
}

static int exits_check(const char *guest_id, const struct store_exit_count *e, size_t n,
		       struct pvm_err *err)
{
	int ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);

	if (ret < 0)
		return ret;
	if (n > STORE_EXIT_REASONS_MAX)
		return pvm_err_field(err, -EINVAL, "exits", "at most %d exit reasons",
				     STORE_EXIT_REASONS_MAX);
	for (size_t i = 0; i < n; i++) {
		ret = reason_check(&e[i], i, err);
		if (ret < 0)
			return ret;
		for (size_t k = 0; k < i; k++)
			if (strcmp(e[k].reason, e[i].reason) == 0)
				return pvm_err_field(err, -EINVAL, "exits",
						     "exit reason %s given twice", e[i].reason);
	}
	return 0;
}

static int guest_exists(struct store_ctx *x, const char *guest_id, struct pvm_err *err)
{
	void *st;
	int ret = store_db_stmt(x, &q_guest, &st);

	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, guest_id);
	ret = store_db_step(x, st);
	if (ret == 0)
		return pvm_err_set(err, -ENOENT, "guest %s not found", guest_id);
	return ret < 0 ? ret : 0;
}

int store_guest_exits_put(struct store *s, const char *guest_id, const struct store_exit_count *e,
			  size_t n, int64_t now_ms, struct pvm_err *err)
{
	int64_t now = now_ms ? now_ms : store_now_ms();
	struct store_ctx x;
	void *st;
	int ret;

	ret = exits_check(guest_id, e, n, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = guest_exists(&x, guest_id, err);
	if (ret == 0)
		ret = store_db_stmt(&x, &q_clear, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, guest_id);
		ret = store_db_run(&x, st);
	}
	for (size_t i = 0; ret == 0 && i < n; i++) {
		ret = store_db_stmt(&x, &q_insert, &st);
		if (ret < 0)
			break;
		store_db_bind_text(&x, st, 1, guest_id);
		store_db_bind_text(&x, st, 2, e[i].reason);
		store_db_bind_int(&x, st, 3, e[i].count);
		store_db_bind_int(&x, st, 4, now);
		ret = store_db_run(&x, st);
	}
	return store_ctx_end(&x, ret);
}

static void exit_read(struct store_ctx *x, void *st, struct store_exit_count *o)
{
	memset(o, 0, sizeof(*o));
	store_db_copy(x, st, 0, o->guest_id, sizeof(o->guest_id));
	store_db_copy(x, st, 1, o->reason, sizeof(o->reason));
	o->count = store_db_int(x, st, 2);
	o->updated_ms = store_db_int(x, st, 3);
}

int store_guest_exits_get(struct store *s, const char *guest_id, struct store_exit_count **out,
			  size_t *n, struct pvm_err *err)
{
	struct store_exit_count *items = NULL;
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
	ret = guest_exists(&x, guest_id, err);
	if (ret == 0)
		ret = store_db_stmt(&x, &q_get, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, guest_id);
	while ((ret = store_db_step(&x, st)) > 0) {
		if (store_grow((void **)&items, &cap, count, sizeof(*items)) < 0) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		exit_read(&x, st, &items[count++]);
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

int store_guest_exits_foreach(struct store *s,
			      int (*fn)(const struct store_exit_count *e, void *arg), void *arg,
			      struct pvm_err *err)
{
	struct store_exit_count rec;
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
		exit_read(&x, st, &rec);
		ret = fn(&rec, arg);
		if (ret != 0)
			break;
	}
out:
	return store_ctx_end(&x, ret);
}
