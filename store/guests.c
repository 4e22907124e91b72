/* SPDX-License-Identifier: MIT */
/* Guests: spec, desired and observed state, and binding to a host. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

#define GUEST_COLS                                                                                 \
	"id, name, spec, kind, desired_state, observed_state, restart_policy, vcpus, memory_mib, " \
	"disk_gib, host_id, generation, created_ms, updated_ms, platform"

static struct store_query q_insert =
    STORE_QUERY("INSERT INTO guests (" GUEST_COLS ") "
		"VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, NULL, 1, ?, ?, NULL)");
static struct store_query q_get = STORE_QUERY("SELECT " GUEST_COLS " FROM guests WHERE id = ?");
static struct store_query q_get_name =
    STORE_QUERY("SELECT " GUEST_COLS " FROM guests WHERE name = ?");
static struct store_query q_gen = STORE_QUERY("SELECT generation FROM guests WHERE id = ?");
static struct store_query q_update = STORE_QUERY(
    "UPDATE guests SET spec = ?, desired_state = ?, restart_policy = ?, observed_state = ?, "
    "generation = generation + 1, updated_ms = ? WHERE id = ? AND (? = 0 OR generation = ?) "
    "RETURNING generation");
static struct store_query q_set_observed =
    STORE_QUERY("UPDATE guests SET observed_state = ?, generation = generation + 1, "
		"updated_ms = ? WHERE id = ? RETURNING generation");
static struct store_query q_set_platform =
    STORE_QUERY("UPDATE guests SET platform = ?, generation = generation + 1, "
		"updated_ms = ? WHERE id = ? RETURNING generation");
/* A new binding (or none) has observed nothing yet: no platform. */
static struct store_query q_set_host =
    STORE_QUERY("UPDATE guests SET host_id = ?, observed_state = ?, platform = NULL, "
		"generation = generation + 1, updated_ms = ? WHERE id = ? RETURNING generation");
static struct store_query q_release = STORE_QUERY(
    "UPDATE hosts SET free_cpus = free_cpus + ?, free_memory_mib = free_memory_mib + ?, "
    "free_disk_gib = free_disk_gib + ?, generation = generation + 1, updated_ms = ? "
    "WHERE id = ?");
static struct store_query q_take = STORE_QUERY(
    "UPDATE hosts SET free_cpus = free_cpus - ?, free_memory_mib = free_memory_mib - ?, "
    "free_disk_gib = free_disk_gib - ?, generation = generation + 1, updated_ms = ? "
    "WHERE id = ? AND free_memory_mib >= ? AND free_disk_gib >= ? "
    "RETURNING generation");
static struct store_query q_host_free =
    STORE_QUERY("SELECT free_cpus, free_memory_mib, free_disk_gib FROM hosts WHERE id = ?");
static struct store_query q_delete = STORE_QUERY("DELETE FROM guests WHERE id = ?");
static struct store_query q_list =
    STORE_QUERY("SELECT " GUEST_COLS " FROM guests WHERE id > ? ORDER BY id LIMIT ?");
static struct store_query q_list_host = STORE_QUERY(
    "SELECT " GUEST_COLS " FROM guests WHERE host_id = ? AND id > ? ORDER BY id LIMIT ?");
static struct store_query q_list_unbound = STORE_QUERY(
    "SELECT " GUEST_COLS " FROM guests WHERE host_id IS NULL AND id > ? ORDER BY id LIMIT ?");

static int guest_read(struct store_ctx *x, void *st, struct store_guest *g)
{
	memset(g, 0, sizeof(*g));
	store_db_copy(x, st, 0, g->id, sizeof(g->id));
	store_db_copy(x, st, 1, g->name, sizeof(g->name));
	if (store_guest_kind_parse(store_db_text(x, st, 3), &g->kind) < 0)
		g->kind = STORE_GUEST_MICROGUEST;
	if (store_desired_state_parse(store_db_text(x, st, 4), &g->desired_state) < 0)
		g->desired_state = STORE_DESIRED_STOPPED;
	if (store_observed_state_parse(store_db_text(x, st, 5), &g->observed_state) < 0)
		g->observed_state = STORE_OBSERVED_UNKNOWN;
	if (store_restart_policy_parse(store_db_text(x, st, 6), &g->restart_policy) < 0)
		g->restart_policy = STORE_RESTART_NEVER;
	g->vcpus = store_db_int(x, st, 7);
	g->memory_mib = store_db_int(x, st, 8);
	g->disk_gib = store_db_int(x, st, 9);
	store_db_copy(x, st, 10, g->host_id, sizeof(g->host_id));
	g->generation = store_db_int(x, st, 11);
	g->created_ms = store_db_int(x, st, 12);
	g->updated_ms = store_db_int(x, st, 13);
	store_db_copy(x, st, 14, g->platform, sizeof(g->platform));
	return store_db_dup(x, st, 2, &g->spec);
}

/* guest_read as a store_row_fn. */
static int guest_row(struct store_ctx *x, void *st, void *item)
{
	return guest_read(x, st, item);
}

static int guest_check_states(const struct store_guest *g, struct pvm_err *err)
{
	if ((unsigned)g->kind > STORE_GUEST_LIBVIRT)
		return pvm_err_field(err, -EINVAL, "kind", "invalid guest kind %d", g->kind);
	if ((unsigned)g->desired_state > STORE_DESIRED_STOPPED)
		return pvm_err_field(err, -EINVAL, "desired_state", "invalid desired state %d",
				     g->desired_state);
	if ((unsigned)g->observed_state > STORE_OBSERVED_UNKNOWN)
		return pvm_err_field(err, -EINVAL, "observed_state", "invalid observed state %d",
				     g->observed_state);
	if ((unsigned)g->restart_policy > STORE_RESTART_ALWAYS)
		return pvm_err_field(err, -EINVAL, "restart_policy", "invalid restart policy %d",
				     g->restart_policy);
	return store_check_json(g->spec, true, "spec", err);
}

static int guest_get_x(struct store_ctx *x, struct store_query *q, const char *key,
		       struct store_guest *out)
{
	return store_get_row(x, q, key, "guest", guest_row, out);
}

/* Reads the guest and checks the generation the caller expects (0: any). */
static int guest_get_checked(struct store_ctx *x, const char *id, int64_t expected,
			     struct store_guest *g)
{
	int ret = guest_get_x(x, &q_get, id, g);

	if (ret < 0)
		return ret;
	if (expected && g->generation != expected)
		return pvm_err_set(x->err, -ESTALE, "guest %s: generation is %lld, expected %lld",
				   id, (long long)g->generation, (long long)expected);
	return 0;
}

int store_guest_create(struct store *s, struct store_guest *g, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t now;
	void *st;
	int ret;

	g->observed_state = STORE_OBSERVED_PENDING;
	ret = store_check_str(g->name, sizeof(g->name), "name", err);
	if (ret == 0)
		ret = guest_check_states(g, err);
	if (ret < 0)
		return ret;
	if (g->vcpus < 0 || g->memory_mib < 0 || g->disk_gib < 0)
		return pvm_err_field(err, -EINVAL, "resources", "resources must not be negative");
	ret = store_new_id("gst", g->id, err);
	if (ret < 0)
		return ret;
	now = store_now_ms();
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_insert, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, g->id);
	store_db_bind_text(&x, st, 2, g->name);
	store_db_bind_text(&x, st, 3, g->spec ? g->spec : "{}");
	store_db_bind_text(&x, st, 4, store_guest_kind_name(g->kind));
	store_db_bind_text(&x, st, 5, store_desired_state_name(g->desired_state));
	store_db_bind_text(&x, st, 6, store_restart_policy_name(g->restart_policy));
	store_db_bind_int(&x, st, 7, g->vcpus);
	store_db_bind_int(&x, st, 8, g->memory_mib);
	store_db_bind_int(&x, st, 9, g->disk_gib);
	store_db_bind_int(&x, st, 10, now);
	store_db_bind_int(&x, st, 11, now);
	ret = store_db_run(&x, st);
	if (ret == -EEXIST) {
		ret = pvm_err_field(err, -EEXIST, "name", "guest name '%s' is already taken",
				    g->name);
		goto out;
	}
	if (ret < 0)
		goto out;
	ret = store_event_gen(&x, STORE_EV_GUEST_CREATED, g->id, 1, "name", g->name);
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0) {
		g->id[0] = '\0';
		return ret;
	}
	g->host_id[0] = '\0';
	g->generation = 1;
	g->created_ms = g->updated_ms = now;
	return 0;
}

int store_guest_get(struct store *s, const char *id, struct store_guest *out, struct pvm_err *err)
{
	int ret = store_check_str(id, STORE_ID_MAX, "id", err);

	return ret < 0 ? ret : store_get(s, &q_get, id, "guest", guest_row, out, err);
}

int store_guest_get_by_name(struct store *s, const char *name, struct store_guest *out,
			    struct pvm_err *err)
{
	int ret = store_check_str(name, STORE_NAME_MAX, "name", err);

	return ret < 0 ? ret : store_get(s, &q_get_name, name, "guest", guest_row, out, err);
}

int store_guest_update(struct store *s, struct store_guest *g, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t now = store_now_ms(), gen = 0;
	void *st;
	int ret;

	ret = store_check_str(g->id, STORE_ID_MAX, "id", err);
	if (ret == 0)
		ret = guest_check_states(g, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_update, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, g->spec ? g->spec : "{}");
	store_db_bind_text(&x, st, 2, store_desired_state_name(g->desired_state));
	store_db_bind_text(&x, st, 3, store_restart_policy_name(g->restart_policy));
	store_db_bind_text(&x, st, 4, store_observed_state_name(g->observed_state));
	store_db_bind_int(&x, st, 5, now);
	store_db_bind_text(&x, st, 6, g->id);
	store_db_bind_int(&x, st, 7, g->generation);
	store_db_bind_int(&x, st, 8, g->generation);
	ret = store_db_step(&x, st);
	if (ret == 0)
		ret = store_gen_conflict(&x, &q_gen, "guest", g->id, g->generation);
	if (ret < 0)
		goto out;
	gen = store_db_int(&x, st, 0);
	ret = store_event_gen(&x, STORE_EV_GUEST_UPDATED, g->id, gen, "desired_state",
			      store_desired_state_name(g->desired_state));
out:
	ret = store_ctx_end(&x, ret);
	if (ret == 0) {
		g->generation = gen;
		g->updated_ms = now;
	}
	return ret;
}

/*
 * One observed field of guest id: q sets it (value, updated_ms, id) and
 * returns the new generation, and a guest.observed event carries key=value.
 */
static int observed_write(struct store_ctx *x, struct store_query *q, const char *id,
			  const char *key, const char *value)
{
	void *st;
	int ret = store_db_stmt(x, q, &st);

	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, value);
	store_db_bind_int(x, st, 2, store_now_ms());
	store_db_bind_text(x, st, 3, id);
	ret = store_db_step(x, st);
	if (ret == 0)
		ret = pvm_err_set(x->err, -ENOENT, "guest %s not found", id);
	if (ret < 0)
		return ret;
	return store_event_gen(x, STORE_EV_GUEST_OBSERVED, id, store_db_int(x, st, 0), key, value);
}

int store_guest_set_observed(struct store *s, const char *id, enum store_observed_state state,
			     struct store_guest *out, struct pvm_err *err)
{
	struct store_guest g = {0};
	struct store_ctx x;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	if ((unsigned)state > STORE_OBSERVED_UNKNOWN)
		return pvm_err_field(err, -EINVAL, "observed_state", "invalid observed state %d",
				     state);
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = guest_get_x(&x, &q_get, id, &g);
	if (ret < 0 || g.observed_state == state)
		goto out;
	ret = observed_write(&x, &q_set_observed, id, "observed_state",
			     store_observed_state_name(state));
	if (ret == 0 && out) {
		store_guest_free(&g);
		ret = guest_get_x(&x, &q_get, id, &g);
	}
out:
	ret = store_ctx_end(&x, ret);
	if (ret == 0 && out)
		*out = g;
	else
		store_guest_free(&g);
	return ret;
}

int store_guest_set_platform(struct store *s, const char *id, const char *platform,
			     struct pvm_err *err)
{
	struct store_guest g = {0};
	struct store_ctx x;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	if (pvm_platform_id(platform) < 0)
		return pvm_err_field(err, -EINVAL, "platform", "unknown platform \"%.32s\"",
				     platform ? platform : "(null)");
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = guest_get_x(&x, &q_get, id, &g);
	if (ret < 0 || strcmp(g.platform, platform) == 0)
		goto out;
	ret = observed_write(&x, &q_set_platform, id, "platform", platform);
out:
	store_guest_free(&g);
	return store_ctx_end(&x, ret);
}

/* Gives g's resources back to the host it is bound to. */
static int release(struct store_ctx *x, const struct store_guest *g, int64_t now)
{
	void *st;
	int ret;

	if (!g->host_id[0])
		return 0;
	ret = store_db_stmt(x, &q_release, &st);
	if (ret < 0)
		return ret;
	store_db_bind_int(x, st, 1, g->vcpus);
	store_db_bind_int(x, st, 2, g->memory_mib);
	store_db_bind_int(x, st, 3, g->disk_gib);
	store_db_bind_int(x, st, 4, now);
	store_db_bind_text(x, st, 5, g->host_id);
	return store_db_run(x, st);
}

/*
 * Takes g's resources from host_id: -ENOENT, or -ENOSPC naming what is short.
 * Memory and disk are hard limits checked here, atomically with the bind;
 * vCPUs are only accounted (free_cpus goes negative when overcommitted), since
 * the overcommit ratio is the scheduler's policy, enforced by its capacity
 * filter.
 */
static int take(struct store_ctx *x, const struct store_guest *g, const char *host_id, int64_t now)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, &q_take, &st);
	if (ret < 0)
		return ret;
	store_db_bind_int(x, st, 1, g->vcpus);
	store_db_bind_int(x, st, 2, g->memory_mib);
	store_db_bind_int(x, st, 3, g->disk_gib);
	store_db_bind_int(x, st, 4, now);
	store_db_bind_text(x, st, 5, host_id);
	store_db_bind_int(x, st, 6, g->memory_mib);
	store_db_bind_int(x, st, 7, g->disk_gib);
	ret = store_db_step(x, st);
	if (ret != 0)
		return ret < 0 ? ret : 0;
	ret = store_db_stmt(x, &q_host_free, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, host_id);
	ret = store_db_step(x, st);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return pvm_err_field(x->err, -ENOENT, "host_id", "host %s not found", host_id);
	return pvm_err_set(x->err, -ENOSPC,
			   "host %s has %lld cpus, %lld MiB, %lld GiB free; guest %s needs %lld, "
			   "%lld, %lld",
			   host_id, (long long)store_db_int(x, st, 0),
			   (long long)store_db_int(x, st, 1), (long long)store_db_int(x, st, 2),
			   g->id, (long long)g->vcpus, (long long)g->memory_mib,
			   (long long)g->disk_gib);
}

static int set_host(struct store_ctx *x, const char *id, const char *host_id,
		    enum store_observed_state state, int64_t now, int64_t *gen)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, &q_set_host, &st);
	if (ret < 0)
		return ret;
	store_db_bind_id(x, st, 1, host_id);
	store_db_bind_text(x, st, 2, store_observed_state_name(state));
	store_db_bind_int(x, st, 3, now);
	store_db_bind_text(x, st, 4, id);
	ret = store_db_step(x, st);
	if (ret == 0)
		return pvm_err_set(x->err, -ENOENT, "guest %s not found", id);
	if (ret < 0)
		return ret;
	*gen = store_db_int(x, st, 0);
	return 0;
}

int store_guest_bind(struct store *s, const char *guest_id, int64_t expected_gen,
		     const char *host_id, const char *explanation, struct store_guest *out,
		     struct pvm_err *err)
{
	struct store_guest g = {0};
	struct store_ctx x;
	int64_t now = store_now_ms(), gen;
	int ret;

	ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);
	if (ret == 0)
		ret = store_check_str(host_id, STORE_ID_MAX, "host_id", err);
	if (ret == 0)
		ret = store_check_json(explanation, false, "explanation", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = guest_get_checked(&x, guest_id, expected_gen, &g);
	if (ret < 0 || !strcmp(g.host_id, host_id))
		goto done; /* already there: nothing to do */
	ret = release(&x, &g, now);
	if (ret == 0)
		ret = take(&x, &g, host_id, now);
	if (ret == 0)
		ret = set_host(&x, guest_id, host_id, STORE_OBSERVED_SCHEDULED, now, &gen);
	if (ret == 0)
		ret =
		    store_placement_insert(&x, guest_id, host_id, g.host_id[0] ? "moved" : "bound",
					   explanation, now, NULL);
	if (ret == 0)
		ret = store_event_gen(&x, STORE_EV_GUEST_BOUND, guest_id, gen, "host_id", host_id);
	if (ret < 0)
		goto done;
	store_guest_free(&g);
	ret = guest_get_x(&x, &q_get, guest_id, &g);
done:
	ret = store_ctx_end(&x, ret);
	if (ret == 0 && out)
		*out = g;
	else
		store_guest_free(&g);
	return ret;
}

int store_guest_unbind(struct store *s, const char *guest_id, int64_t expected_gen,
		       struct store_guest *out, struct pvm_err *err)
{
	struct store_guest g = {0};
	struct store_ctx x;
	int64_t now = store_now_ms(), gen;
	char old_host[STORE_ID_MAX];
	int ret;

	ret = store_check_str(guest_id, STORE_ID_MAX, "guest_id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = guest_get_checked(&x, guest_id, expected_gen, &g);
	if (ret < 0 || !g.host_id[0])
		goto done;
	snprintf(old_host, sizeof(old_host), "%s", g.host_id);
	ret = release(&x, &g, now);
	if (ret == 0)
		ret = set_host(&x, guest_id, NULL, STORE_OBSERVED_PENDING, now, &gen);
	if (ret == 0)
		ret =
		    store_event_gen(&x, STORE_EV_GUEST_UNBOUND, guest_id, gen, "host_id", old_host);
	if (ret < 0)
		goto done;
	store_guest_free(&g);
	ret = guest_get_x(&x, &q_get, guest_id, &g);
done:
	ret = store_ctx_end(&x, ret);
	if (ret == 0 && out)
		*out = g;
	else
		store_guest_free(&g);
	return ret;
}

int store_guest_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err)
{
	struct store_guest g = {0};
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = guest_get_checked(&x, id, expected_gen, &g);
	if (ret == 0)
		ret = release(&x, &g, store_now_ms());
	if (ret == 0)
		ret = store_db_stmt(&x, &q_delete, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, id);
		ret = store_db_run(&x, st);
	}
	if (ret == 0)
		ret = store_event_gen(&x, STORE_EV_GUEST_DELETED, id, g.generation, "name", g.name);
	ret = store_ctx_end(&x, ret);
	store_guest_free(&g);
	return ret;
}

int store_guest_list(struct store *s, const struct store_list_opts *opts,
		     struct store_guest_list *out, struct pvm_err *err)
{
	size_t limit = store_list_limit(opts);
	const char *after = opts && opts->after ? opts->after : "";
	struct store_ctx x;
	int idx = 1;
	void *st;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	if (opts && opts->host_id && *opts->host_id) {
		ret = store_db_stmt(&x, &q_list_host, &st);
		if (ret == 0)
			store_db_bind_text(&x, st, idx++, opts->host_id);
	} else if (opts && opts->unbound) {
		ret = store_db_stmt(&x, &q_list_unbound, &st);
	} else {
		ret = store_db_stmt(&x, &q_list, &st);
	}
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, idx++, after);
	store_db_bind_int(&x, st, idx, (int64_t)limit + 1);
	ret =
	    store_page(&x, st, limit, sizeof(*out->items), guest_row,
		       offsetof(struct store_guest, id), (void **)&out->items, &out->n, out->next);
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		store_guest_list_free(out);
	return ret;
}

void store_guest_free(struct store_guest *g)
{
	if (!g)
		return;
	free(g->spec);
	g->spec = NULL;
}

void store_guest_list_free(struct store_guest_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		store_guest_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
