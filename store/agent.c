/* SPDX-License-Identifier: MIT */
/*
 * The guest agent's latest state per guest (hello, negotiation, last report,
 * stale flag) as its host relays it, and when the controller first saw the
 * agent's hello.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

static struct store_query q_guest = STORE_QUERY("SELECT 1 FROM guests WHERE id = ?");
static struct store_query q_hello =
    STORE_QUERY("SELECT hello_ms FROM guest_agent WHERE guest_id = ?");
static struct store_query q_upsert = STORE_QUERY(
    "INSERT INTO guest_agent (guest_id, state, stale, hello_ms, updated_ms) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guest_id) DO UPDATE SET state = excluded.state, "
    "stale = excluded.stale, updated_ms = excluded.updated_ms");
static struct store_query q_get =
    STORE_QUERY("SELECT guest_id, state, stale, hello_ms, updated_ms FROM guest_agent "
		"WHERE guest_id = ?");
static struct store_query q_all = STORE_QUERY(
    "SELECT guest_id, state, stale, hello_ms, updated_ms FROM guest_agent ORDER BY guest_id");

int store_guest_agent_put(struct store *s, const char *guest_id, const char *state, bool stale,
			  int64_t now_ms, struct pvm_err *err)
{
	int64_t now = now_ms ? now_ms : store_now_ms();
	struct store_ctx x;
	bool first = false;
	void *st;
	int ret;

	ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);
	if (ret == 0 && !state)
		ret = pvm_err_field(err, -EINVAL, "agent", "agent state is missing");
	if (ret == 0)
		ret = store_check_json(state, true, "agent", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_guest, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, guest_id);
		ret = store_db_step(&x, st);
		if (ret == 0)
			ret = pvm_err_set(err, -ENOENT, "guest %s not found", guest_id);
		else if (ret > 0)
			ret = store_db_stmt(&x, &q_hello, &st);
	}
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, guest_id);
		ret = store_db_step(&x, st);
		first = ret == 0;
		if (ret > 0)
			ret = 0;
	}
	if (ret == 0)
		ret = store_db_stmt(&x, &q_upsert, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, guest_id);
		store_db_bind_text(&x, st, 2, state);
		store_db_bind_int(&x, st, 3, stale);
		store_db_bind_int(&x, st, 4, now);
		store_db_bind_int(&x, st, 5, now);
		ret = store_db_run(&x, st);
	}
	if (ret == 0 && first)
		ret = store_event_add(&x, STORE_EV_GUEST_AGENT_READY, guest_id, NULL, NULL);
	ret = store_ctx_end(&x, ret);
	return ret < 0 ? ret : first;
}

static int agent_read(struct store_ctx *x, void *st, struct store_guest_agent *o)
{
	memset(o, 0, sizeof(*o));
	store_db_copy(x, st, 0, o->guest_id, sizeof(o->guest_id));
	o->stale = store_db_int(x, st, 2) != 0;
	o->hello_ms = store_db_int(x, st, 3);
	o->updated_ms = store_db_int(x, st, 4);
	return store_db_dup(x, st, 1, &o->state);
}

int store_guest_agent_get(struct store *s, const char *guest_id, struct store_guest_agent *out,
			  struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_get, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, guest_id);
		ret = store_db_step(&x, st);
		if (ret == 0)
			ret = pvm_err_set(err, -ENOENT, "guest %s has no agent state", guest_id);
		else if (ret > 0)
			ret = agent_read(&x, st, out);
	}
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		store_guest_agent_free(out);
	return ret;
}

int store_guest_agent_foreach(struct store *s,
			      int (*fn)(const struct store_guest_agent *a, void *arg), void *arg,
			      struct pvm_err *err)
{
	struct store_guest_agent rec;
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
		ret = agent_read(&x, st, &rec);
		if (ret == 0)
			ret = fn(&rec, arg);
		store_guest_agent_free(&rec);
		if (ret != 0)
			break;
	}
out:
	return store_ctx_end(&x, ret);
}

void store_guest_agent_free(struct store_guest_agent *a)
{
	free(a->state);
	a->state = NULL;
}
