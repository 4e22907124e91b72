/* SPDX-License-Identifier: MIT */
/* Hosts: registration, heartbeats, cordon/drain, capacity accounting. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

#define HOST_COLS                                                                                  \
	"id, name, address, state, cordoned, draining, labels, capabilities, cpus, memory_mib, "   \
	"disk_gib, free_cpus, free_memory_mib, free_disk_gib, last_heartbeat_ms, generation, "     \
	"created_ms, updated_ms"

static struct store_query q_insert =
    STORE_QUERY("INSERT INTO hosts (" HOST_COLS ") "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)");
static struct store_query q_get = STORE_QUERY("SELECT " HOST_COLS " FROM hosts WHERE id = ?");
static struct store_query q_get_name =
    STORE_QUERY("SELECT " HOST_COLS " FROM hosts WHERE name = ?");
static struct store_query q_gen = STORE_QUERY("SELECT generation FROM hosts WHERE id = ?");
/*
 * The generation (the ETag operators' conditional updates name) moves with
 * what operators and placements change, not with what the host reports
 * about itself: a heartbeat's capabilities, sizes and liveness are written
 * (with their events) under the same generation.
 */
#define HOST_UPDATE(bump)                                                                          \
	"UPDATE hosts SET name = ?, address = ?, state = ?, cordoned = ?, draining = ?, "          \
	"labels = ?, capabilities = ?, free_cpus = free_cpus + (? - cpus), "                       \
	"free_memory_mib = free_memory_mib + (? - memory_mib), "                                   \
	"free_disk_gib = free_disk_gib + (? - disk_gib), cpus = ?, memory_mib = ?, "               \
	"disk_gib = ?, last_heartbeat_ms = ?, " bump "updated_ms = ? "                             \
	"WHERE id = ? AND (? = 0 OR generation = ?) RETURNING generation"
static struct store_query q_update = STORE_QUERY(HOST_UPDATE("generation = generation + 1, "));
static struct store_query q_report = STORE_QUERY(HOST_UPDATE(""));
static struct store_query q_beat =
    STORE_QUERY("UPDATE hosts SET last_heartbeat_ms = ? WHERE id = ?");
static struct store_query q_stale =
    STORE_QUERY("SELECT id FROM hosts WHERE state = 'ready' AND last_heartbeat_ms < ? ORDER BY id");
static struct store_query q_set_unreachable =
    STORE_QUERY("UPDATE hosts SET state = 'unreachable', updated_ms = ? WHERE id = ? "
		"RETURNING generation");
static struct store_query q_guests_unknown = STORE_QUERY(
    "UPDATE guests SET observed_state = 'unknown', generation = generation + 1, updated_ms = ? "
    "WHERE host_id = ? AND observed_state <> 'unknown' RETURNING id, generation");
static struct store_query q_count_guests =
    STORE_QUERY("SELECT COUNT(*) FROM guests WHERE host_id = ?");
static struct store_query q_delete = STORE_QUERY(
    "DELETE FROM hosts WHERE id = ? AND (? = 0 OR generation = ?) RETURNING generation");
static struct store_query q_list =
    STORE_QUERY("SELECT " HOST_COLS " FROM hosts WHERE id > ? ORDER BY id LIMIT ?");

static int host_read(struct store_ctx *x, void *st, struct store_host *h)
{
	int ret;

	memset(h, 0, sizeof(*h));
	store_db_copy(x, st, 0, h->id, sizeof(h->id));
	store_db_copy(x, st, 1, h->name, sizeof(h->name));
	store_db_copy(x, st, 2, h->address, sizeof(h->address));
	if (store_host_state_parse(store_db_text(x, st, 3), &h->state) < 0)
		h->state = STORE_HOST_NOT_READY;
	h->cordoned = store_db_int(x, st, 4) != 0;
	h->draining = store_db_int(x, st, 5) != 0;
	h->cpus = store_db_int(x, st, 8);
	h->memory_mib = store_db_int(x, st, 9);
	h->disk_gib = store_db_int(x, st, 10);
	h->free_cpus = store_db_int(x, st, 11);
	h->free_memory_mib = store_db_int(x, st, 12);
	h->free_disk_gib = store_db_int(x, st, 13);
	h->last_heartbeat_ms = store_db_int(x, st, 14);
	h->generation = store_db_int(x, st, 15);
	h->created_ms = store_db_int(x, st, 16);
	h->updated_ms = store_db_int(x, st, 17);
	ret = store_db_dup(x, st, 6, &h->labels);
	if (ret == 0)
		ret = store_db_dup(x, st, 7, &h->capabilities);
	if (ret < 0)
		store_host_free(h);
	return ret;
}

/* host_read as a store_row_fn. */
static int host_row(struct store_ctx *x, void *st, void *item)
{
	return host_read(x, st, item);
}

static int host_check(const struct store_host *h, struct pvm_err *err)
{
	int ret;

	ret = store_check_str(h->name, sizeof(h->name), "name", err);
	if (ret < 0)
		return ret;
	if (strnlen(h->address, sizeof(h->address)) >= sizeof(h->address))
		return pvm_err_field(err, -EINVAL, "address", "address is too long");
	if ((unsigned)h->state > STORE_HOST_UNREACHABLE)
		return pvm_err_field(err, -EINVAL, "state", "invalid host state %d", h->state);
	if (h->cpus < 0 || h->memory_mib < 0 || h->disk_gib < 0)
		return pvm_err_field(err, -EINVAL, "capacity", "capacity must not be negative");
	ret = store_check_json(h->labels, true, "labels", err);
	if (ret == 0)
		ret = store_check_json(h->capabilities, true, "capabilities", err);
	return ret;
}

/* Reads one host inside x by id (q_get) or name (q_get_name). */
static int host_get_x(struct store_ctx *x, struct store_query *q, const char *key,
		      struct store_host *out)
{
	return store_get_row(x, q, key, "host", host_row, out);
}

int store_host_create(struct store *s, struct store_host *h, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t now;
	void *st;
	int ret;

	ret = host_check(h, err);
	if (ret < 0)
		return ret;
	ret = store_new_id("hst", h->id, err);
	if (ret < 0)
		return ret;
	now = store_now_ms();
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_insert, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, h->id);
	store_db_bind_text(&x, st, 2, h->name);
	store_db_bind_text(&x, st, 3, h->address);
	store_db_bind_text(&x, st, 4, store_host_state_name(h->state));
	store_db_bind_int(&x, st, 5, h->cordoned);
	store_db_bind_int(&x, st, 6, h->draining);
	store_db_bind_text(&x, st, 7, h->labels ? h->labels : "{}");
	store_db_bind_text(&x, st, 8, h->capabilities ? h->capabilities : "{}");
	store_db_bind_int(&x, st, 9, h->cpus);
	store_db_bind_int(&x, st, 10, h->memory_mib);
	store_db_bind_int(&x, st, 11, h->disk_gib);
	store_db_bind_int(&x, st, 12, h->cpus);
	store_db_bind_int(&x, st, 13, h->memory_mib);
	store_db_bind_int(&x, st, 14, h->disk_gib);
	store_db_bind_int(&x, st, 15, h->last_heartbeat_ms);
	store_db_bind_int(&x, st, 16, now);
	store_db_bind_int(&x, st, 17, now);
	ret = store_db_run(&x, st);
	if (ret == -EEXIST) {
		ret =
		    pvm_err_field(err, -EEXIST, "name", "host name '%s' is already taken", h->name);
		goto out;
	}
	if (ret < 0)
		goto out;
	ret = store_event_gen(&x, STORE_EV_HOST_CREATED, h->id, 1, "name", h->name);
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0) {
		h->id[0] = '\0';
		return ret;
	}
	h->free_cpus = h->cpus;
	h->free_memory_mib = h->memory_mib;
	h->free_disk_gib = h->disk_gib;
	h->generation = 1;
	h->created_ms = h->updated_ms = now;
	return 0;
}

int store_host_get(struct store *s, const char *id, struct store_host *out, struct pvm_err *err)
{
	int ret = store_check_str(id, STORE_ID_MAX, "id", err);

	return ret < 0 ? ret : store_get(s, &q_get, id, "host", host_row, out, err);
}

int store_host_get_by_name(struct store *s, const char *name, struct store_host *out,
			   struct pvm_err *err)
{
	int ret = store_check_str(name, STORE_NAME_MAX, "name", err);

	return ret < 0 ? ret : store_get(s, &q_get_name, name, "host", host_row, out, err);
}

static const char *state_event(enum store_host_state old, enum store_host_state now)
{
	if (old == now)
		return STORE_EV_HOST_UPDATED;
	if (now == STORE_HOST_READY)
		return STORE_EV_HOST_READY;
	if (now == STORE_HOST_UNREACHABLE)
		return STORE_EV_HOST_UNREACHABLE;
	return STORE_EV_HOST_UPDATED;
}

/* The UPDATE of every mutable field (q: q_update or q_report), generation-checked; x is writing. */
static int host_write(struct store_ctx *x, struct store_query *q, const struct store_host *h,
		      int64_t expected, int64_t now, int64_t *gen)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, q, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, h->name);
	store_db_bind_text(x, st, 2, h->address);
	store_db_bind_text(x, st, 3, store_host_state_name(h->state));
	store_db_bind_int(x, st, 4, h->cordoned);
	store_db_bind_int(x, st, 5, h->draining);
	store_db_bind_text(x, st, 6, h->labels ? h->labels : "{}");
	store_db_bind_text(x, st, 7, h->capabilities ? h->capabilities : "{}");
	store_db_bind_int(x, st, 8, h->cpus);
	store_db_bind_int(x, st, 9, h->memory_mib);
	store_db_bind_int(x, st, 10, h->disk_gib);
	store_db_bind_int(x, st, 11, h->cpus);
	store_db_bind_int(x, st, 12, h->memory_mib);
	store_db_bind_int(x, st, 13, h->disk_gib);
	store_db_bind_int(x, st, 14, h->last_heartbeat_ms);
	store_db_bind_int(x, st, 15, now);
	store_db_bind_text(x, st, 16, h->id);
	store_db_bind_int(x, st, 17, expected);
	store_db_bind_int(x, st, 18, expected);
	ret = store_db_step(x, st);
	if (ret == -EEXIST)
		return pvm_err_field(x->err, -EEXIST, "name", "host name '%s' is already taken",
				     h->name);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return store_gen_conflict(x, &q_gen, "host", h->id, expected);
	*gen = store_db_int(x, st, 0);
	return 0;
}

int store_host_update(struct store *s, struct store_host *h, struct pvm_err *err)
{
	struct store_host old = {0}, now_h = {0};
	struct store_ctx x;
	int64_t gen = 0;
	int ret;

	ret = host_check(h, err);
	if (ret == 0)
		ret = store_check_str(h->id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = host_get_x(&x, &q_get, h->id, &old);
	if (ret < 0)
		goto out;
	ret = host_write(&x, &q_update, h, h->generation, store_now_ms(), &gen);
	if (ret < 0)
		goto out;
	ret = store_event_gen(&x, state_event(old.state, h->state), h->id, gen, "state",
			      store_host_state_name(h->state));
	if (ret < 0)
		goto out;
	ret = host_get_x(&x, &q_get, h->id, &now_h);
out:
	ret = store_ctx_end(&x, ret);
	if (ret == 0) {
		h->generation = now_h.generation;
		h->updated_ms = now_h.updated_ms;
		h->free_cpus = now_h.free_cpus;
		h->free_memory_mib = now_h.free_memory_mib;
		h->free_disk_gib = now_h.free_disk_gib;
	}
	store_host_free(&old);
	store_host_free(&now_h);
	return ret;
}

int store_host_heartbeat(struct store *s, const char *id, const struct store_heartbeat *hb,
			 struct store_host *out, struct pvm_err *err)
{
	static const struct store_heartbeat bare = {.cpus = -1, .memory_mib = -1, .disk_gib = -1};
	struct store_host h = {0};
	struct store_ctx x;
	enum store_host_state old_state;
	int64_t now, gen;
	bool changed;
	char *caps;
	void *st;
	int ret;

	if (!hb)
		hb = &bare;
	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret == 0)
		ret = store_check_json(hb->capabilities, true, "capabilities", err);
	if (ret < 0)
		return ret;
	now = hb->now_ms ? hb->now_ms : store_now_ms();
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = host_get_x(&x, &q_get, id, &h);
	if (ret < 0)
		goto out;
	old_state = h.state;
	changed = h.state != STORE_HOST_READY;
	if (hb->capabilities && strcmp(hb->capabilities, h.capabilities) != 0) {
		caps = strdup(hb->capabilities);
		if (!caps) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		free(h.capabilities);
		h.capabilities = caps;
		changed = true;
	}
	if (hb->cpus >= 0 && hb->cpus != h.cpus) {
		h.cpus = hb->cpus;
		changed = true;
	}
	if (hb->memory_mib >= 0 && hb->memory_mib != h.memory_mib) {
		h.memory_mib = hb->memory_mib;
		changed = true;
	}
	if (hb->disk_gib >= 0 && hb->disk_gib != h.disk_gib) {
		h.disk_gib = hb->disk_gib;
		changed = true;
	}
	h.state = STORE_HOST_READY;
	h.last_heartbeat_ms = now;
	if (changed) {
		ret = host_write(&x, &q_report, &h, 0, store_now_ms(), &gen);
		if (ret == 0)
			ret = store_event_gen(&x, state_event(old_state, h.state), id, gen, "state",
					      "ready");
	} else {
		/* Only the time moved: no new generation, no event. */
		ret = store_db_stmt(&x, &q_beat, &st);
		if (ret == 0) {
			store_db_bind_int(&x, st, 1, now);
			store_db_bind_text(&x, st, 2, id);
			ret = store_db_run(&x, st);
		}
	}
	if (ret == 0 && out) {
		store_host_free(&h);
		ret = host_get_x(&x, &q_get, id, &h);
	}
out:
	ret = store_ctx_end(&x, ret);
	if (ret == 0 && out)
		*out = h;
	else
		store_host_free(&h);
	return ret;
}

int store_host_mark_unreachable(struct store *s, int64_t cutoff_ms, struct pvm_err *err)
{
	char(*ids)[STORE_ID_MAX] = NULL;
	size_t n = 0, cap = 0, i;
	struct store_ctx x;
	int64_t now = store_now_ms();
	void *st;
	int ret;

	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_stale, &st);
	if (ret < 0)
		goto out;
	store_db_bind_int(&x, st, 1, cutoff_ms);
	while ((ret = store_db_step(&x, st)) > 0) {
		if (store_grow((void **)&ids, &cap, n, sizeof(*ids)) < 0) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		store_db_copy(&x, st, 0, ids[n++], STORE_ID_MAX);
	}
	for (i = 0; ret == 0 && i < n; i++) {
		ret = store_db_stmt(&x, &q_set_unreachable, &st);
		if (ret < 0)
			break;
		store_db_bind_int(&x, st, 1, now);
		store_db_bind_text(&x, st, 2, ids[i]);
		ret = store_db_step(&x, st);
		if (ret < 0)
			break;
		ret = store_event_gen(&x, STORE_EV_HOST_UNREACHABLE, ids[i],
				      store_db_int(&x, st, 0), "state", "unreachable");
		if (ret < 0)
			break;
		/* Nothing is known about its guests until it (or another host)
		 * reports again. */
		ret = store_db_stmt(&x, &q_guests_unknown, &st);
		if (ret < 0)
			break;
		store_db_bind_int(&x, st, 1, now);
		store_db_bind_text(&x, st, 2, ids[i]);
		while ((ret = store_db_step(&x, st)) > 0) {
			char gid[STORE_ID_MAX];

			store_db_copy(&x, st, 0, gid, sizeof(gid));
			ret = store_event_gen(&x, STORE_EV_GUEST_OBSERVED, gid,
					      store_db_int(&x, st, 1), "observed_state", "unknown");
			if (ret < 0)
				break;
		}
	}
out:
	ret = store_ctx_end(&x, ret);
	free(ids);
	return ret < 0 ? ret : (int)n;
}

int store_host_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t bound;
	void *st;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_count_guests, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, id);
	ret = store_db_step(&x, st);
	if (ret < 0)
		goto out;
	bound = store_db_int(&x, st, 0);
	if (bound > 0) {
		ret = pvm_err_set(err, -EBUSY, "host %s still has %lld guest(s) bound", id,
				  (long long)bound);
		goto out;
	}
	ret = store_db_stmt(&x, &q_delete, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, id);
	store_db_bind_int(&x, st, 2, expected_gen);
	store_db_bind_int(&x, st, 3, expected_gen);
	ret = store_db_step(&x, st);
	if (ret == 0)
		ret = store_gen_conflict(&x, &q_gen, "host", id, expected_gen);
	if (ret < 0)
		goto out;
	ret = store_event_gen(&x, STORE_EV_HOST_DELETED, id, store_db_int(&x, st, 0), NULL, NULL);
out:
	return store_ctx_end(&x, ret);
}

int store_host_list(struct store *s, const struct store_list_opts *opts,
		    struct store_host_list *out, struct pvm_err *err)
{
	size_t limit = store_list_limit(opts);
	struct store_ctx x;
	void *st;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_list, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, opts && opts->after ? opts->after : "");
	store_db_bind_int(&x, st, 2, (int64_t)limit + 1);
	ret = store_page(&x, st, limit, sizeof(*out->items), host_row,
			 offsetof(struct store_host, id), (void **)&out->items, &out->n, out->next);
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		store_host_list_free(out);
	return ret;
}

void store_host_free(struct store_host *h)
{
	if (!h)
		return;
	free(h->labels);
	free(h->capabilities);
	h->labels = NULL;
	h->capabilities = NULL;
}

void store_host_list_free(struct store_host_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		store_host_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
