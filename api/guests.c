/* SPDX-License-Identifier: MIT */
/*
 * /v1/guests: create (stored pending, placed by the scheduler, bound to a
 * host, all in one transaction), read, desired state, delete, and the host's
 * reports of observed state, negotiated hooks and hook statistics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "api/handlers.h"
#include "schedulers/sched.h"
#include "store/store.h"

static json_object *caps_json(const struct store_cap *c, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(c[i].name));
		json_object_object_add(o, "state",
				       json_object_new_string(store_cap_state_name(c[i].state)));
		json_object_object_add(o, "abi_version", json_object_new_int64(c[i].abi_version));
		if (c[i].reason[0])
			json_object_object_add(o, "reason", json_object_new_string(c[i].reason));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *stats_json(const struct store_hook_stat *st, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "hook", json_object_new_string(st[i].hook));
		json_object_object_add(o, "calls", json_object_new_int64(st[i].calls));
		json_object_object_add(o, "doorbells", json_object_new_int64(st[i].doorbells));
		json_object_object_add(o, "bytes", json_object_new_int64(st[i].bytes));
		json_object_object_add(o, "errors", json_object_new_int64(st[i].errors));
		json_object_object_add(o, "exits_avoided",
				       json_object_new_int64(st[i].exits_avoided));
		json_object_object_add(o, "histogram", api_json_text(st[i].histogram));
		json_object_object_add(o, "updated_ms", json_object_new_int64(st[i].updated_ms));
		json_object_array_add(a, o);
	}
	return a;
}

/* The negotiated capabilities, latest hook statistics, vCPU exits and agent
 * state of a guest, from the store. */
static json_object *detail_from_store(struct store *st, const char *id)
{
	json_object *d = json_object_new_object();
	struct store_cap *caps = NULL;
	struct store_hook_stat *hs = NULL;
	struct store_exit_count *exits = NULL;
	struct store_guest_agent agent = {0};
	size_t n = 0;
	int ret;

	if (store_guest_caps_get(st, id, &caps, &n, NULL) < 0) {
		json_object_put(d);
		return NULL;
	}
	json_object_object_add(d, "capabilities", caps_json(caps, n));
	free(caps);
	n = 0;
	if (store_hook_stats_get(st, id, &hs, &n, NULL) < 0) {
		json_object_put(d);
		return NULL;
	}
	json_object_object_add(d, "hook_stats", stats_json(hs, n));
	store_hook_stats_free(hs, n);
	n = 0;
	if (store_guest_exits_get(st, id, &exits, &n, NULL) < 0) {
		json_object_put(d);
		return NULL;
	}
	json_object_object_add(d, "exits", api_exits_json(exits, n));
	free(exits);
	ret = store_guest_agent_get(st, id, &agent, NULL);
	if (ret < 0 && ret != -ENOENT) {
		json_object_put(d);
		return NULL;
	}
	json_object_object_add(d, "agent", ret == 0 ? api_agent_json(&agent) : NULL);
	store_guest_agent_free(&agent);
	return d;
}

static uint64_t id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/*
 * Reads of one guest are frequent (operators, host daemons) and its detail
 * costs two store reads; it changes only through reports and deletes made
 * by this server, which drop the cached copy. The TTL bounds what a writer
 * outside this process could leave stale.
 */
/* The detail as members ("capabilities":[...],"hook_stats":[...],...) to splice
 * into the guest's object; caller frees; NULL when the store fails. */
static char *detail_members(struct api_server *srv, const char *id)
{
	struct api_detail_slot *sl = &srv->detail[id_hash(id) % API_DETAIL_SLOTS];
	char *text = NULL, *keep;
	uint64_t version;
	json_object *d;
	size_t len;

	pthread_mutex_lock(&srv->detail_lock);
	version = sl->version;
	if (sl->text && sl->expires_ns > pvm_now_ns() && strcmp(sl->id, id) == 0)
		text = strdup(sl->text);
	pthread_mutex_unlock(&srv->detail_lock);
	if (text)
		return text;
	d = detail_from_store(srv->cfg.store, id);
	if (!d)
		return NULL;
	text = api_json_dup(d);
	json_object_put(d);
	if (!text)
		return NULL;
	/* "{...}" -> "..." */
	len = strlen(text);
	memmove(text, text + 1, len - 2);
	text[len - 2] = '\0';
	keep = strdup(text);
	pthread_mutex_lock(&srv->detail_lock);
	if (keep && sl->version == version) {
		free(sl->text);
		snprintf(sl->id, sizeof(sl->id), "%s", id);
		sl->text = keep;
		sl->expires_ns = pvm_now_ns() + API_DETAIL_TTL_NS;
		keep = NULL;
	}
	pthread_mutex_unlock(&srv->detail_lock);
	free(keep);
	return text;
}

int api_guest_answer(struct api_server *srv, const struct store_guest *g, struct api_resp *rs)
{
	json_object *o = api_guest_json(g);
	char *members = detail_members(srv, g->id);
	const char *base;
	size_t blen, mlen;
	char *buf;

	api_set_etag(rs, g->generation);
	if (!members)
		return api_json(rs, 200, o);
	base = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &blen);
	mlen = strlen(members);
	buf = malloc(blen + mlen + 2);
	if (!buf) {
		free(members);
		return api_json(rs, 200, o);
	}
	/* base ends with '}': append ",members}" */
	memcpy(buf, base, blen - 1);
	buf[blen - 1] = ',';
	memcpy(buf + blen, members, mlen);
	buf[blen + mlen] = '}';
	buf[blen + mlen + 1] = '\0';
	free(members);
	json_object_put(o);
	rs->status = 200;
	rs->raw = buf;
	rs->raw_len = blen + mlen + 1;
	rs->content_type = "application/json";
	return 0;
}

void api_guest_detail_forget(struct api_server *srv, const char *id)
{
	struct api_detail_slot *sl = &srv->detail[id_hash(id) % API_DETAIL_SLOTS];

	pthread_mutex_lock(&srv->detail_lock);
	sl->version++;
	free(sl->text);
	sl->text = NULL;
	pthread_mutex_unlock(&srv->detail_lock);
}

json_object *api_guest_json(const struct store_guest *g)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(g->id));
	json_object_object_add(o, "name", json_object_new_string(g->name));
	json_object_object_add(o, "kind", json_object_new_string(store_guest_kind_name(g->kind)));
	json_object_object_add(o, "desired_state",
			       json_object_new_string(store_desired_state_name(g->desired_state)));
	json_object_object_add(
	    o, "observed_state",
	    json_object_new_string(store_observed_state_name(g->observed_state)));
	json_object_object_add(
	    o, "restart_policy",
	    json_object_new_string(store_restart_policy_name(g->restart_policy)));
	json_object_object_add(o, "vcpus", json_object_new_int64(g->vcpus));
	json_object_object_add(o, "memory_mib", json_object_new_int64(g->memory_mib));
	json_object_object_add(o, "disk_gib", json_object_new_int64(g->disk_gib));
	json_object_object_add(o, "host_id",
			       g->host_id[0] ? json_object_new_string(g->host_id) : NULL);
	/* Observed: what its host's VMM runs it on (spec.platform is what it requires). */
	json_object_object_add(o, "platform",
			       g->platform[0] ? json_object_new_string(g->platform) : NULL);
	json_object_object_add(o, "spec", api_json_text(g->spec));
	json_object_object_add(o, "generation", json_object_new_int64(g->generation));
	json_object_object_add(o, "created_ms", json_object_new_int64(g->created_ms));
	json_object_object_add(o, "updated_ms", json_object_new_int64(g->updated_ms));
	return o;
}

/* Small record of the decision, kept with the placement. */
static char *decision_json(const struct sched_placement *p, const char *policy)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "chosen",
			       p->host_id[0] ? json_object_new_string(p->host_id) : NULL);
	json_object_object_add(o, "score", json_object_new_double(p->score));
	json_object_object_add(o, "hosts_total", json_object_new_int((int)p->hosts_total));
	json_object_object_add(o, "hosts_examined", json_object_new_int((int)p->hosts_examined));
	json_object_object_add(o, "hosts_feasible", json_object_new_int((int)p->hosts_feasible));
	json_object_object_add(o, "policy", json_object_new_string(policy));
	s = api_json_dup(o);
	json_object_put(o);
	return s;
}

int api_place(struct api_server *srv, struct store_guest *g, bool record, struct pvm_err *err)
{
	struct store *st = srv->cfg.store;
	struct sched_placement p = {0};
	struct store_guest bound;
	struct sched_guest sg;
	char policy[512];
	json_object *spec = api_json_text(g->spec);
	char *why = NULL;
	int ret;

	ret = api_sched_guest(g->id, spec, &sg, err);
	json_object_put(spec);
	if (ret < 0)
		return ret;
	sched_policy_format(sched_fleet_policy(srv->fleet), policy, sizeof(policy));
	ret = sched_fleet_place(srv->fleet, &sg, NULL, &p, err);
	if (ret == SCHED_ENOHOST) {
		if (record) {
			struct store_placement pl = {0};
			json_object *o = json_object_new_object();

			json_object_object_add(o, "reason", json_object_new_string(err->msg));
			pl.explanation = api_json_dup(o);
			json_object_put(o);
			snprintf(pl.guest_id, sizeof(pl.guest_id), "%s", g->id);
			snprintf(pl.decision, sizeof(pl.decision), "unschedulable");
			store_placement_add(st, &pl, NULL);
			store_placement_free(&pl);
		}
		return -ENOSPC;
	}
	if (ret < 0)
		return ret;
	why = decision_json(&p, policy);
	ret = store_guest_bind(st, g->id, 0, p.host_id, why, &bound, err);
	free(why);
	if (ret < 0)
		return ret;
	store_guest_free(g);
	*g = bound;
	/* The store is the truth; a fleet that disagrees is reloaded at restart. */
	if (sched_fleet_bind(srv->fleet, &sg, p.host_id, err) < 0)
		pvm_log_warn("api: scheduler: bind %s: %s", g->id, err->msg);
	return 0;
}

static void request_hash(struct api_req *rq, char out[STORE_HASH_HEX])
{
	gnutls_hash_hd_t h;
	unsigned char d[32];

	gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
	gnutls_hash(h, rq->method, strlen(rq->method) + 1);
	gnutls_hash(h, rq->path, strlen(rq->path) + 1);
	if (rq->body.len)
		gnutls_hash(h, rq->body.data, rq->body.len);
	gnutls_hash_deinit(h, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Answers a replay (0 and rs filled), or says there is none (-ENOENT). */
static int idem_replay(struct api_req *rq, struct api_resp *rs, const char *key, const char *hash)
{
	struct store_idem r = {0};
	int ret = store_idem_get(rq->srv->cfg.store, key, 0, &r, NULL);

	if (ret < 0)
		return ret;
	if (strcmp(r.request_hash, hash) != 0) {
		api_problem(rs, 422, API_P_IDEMPOTENCY, NULL,
			    "Idempotency-Key was first used with another request");
	} else {
		rs->status = (unsigned)r.status;
		rs->raw = r.body;
		rs->raw_len = strlen(r.body);
		rs->content_type = "application/json";
		r.body = NULL;
	}
	store_idem_free(&r);
	return 0;
}

static int guest_from_spec(json_object *spec, struct store_guest *g)
{
	const char *s;
	int64_t x;

	memset(g, 0, sizeof(*g));
	pvm_json_get_str(spec, "name", &s);
	snprintf(g->name, sizeof(g->name), "%s", s);
	g->kind = STORE_GUEST_MICROGUEST;
	g->desired_state = STORE_DESIRED_RUNNING;
	g->restart_policy = STORE_RESTART_ON_FAILURE;
	if (pvm_json_get_str(spec, "kind", &s) == 0)
		store_guest_kind_parse(s, &g->kind);
	if (pvm_json_get_str(spec, "desired_state", &s) == 0)
		store_desired_state_parse(s, &g->desired_state);
	if (pvm_json_get_str(spec, "restart_policy", &s) == 0)
		store_restart_policy_parse(s, &g->restart_policy);
	pvm_json_get_int(spec, "vcpus", &g->vcpus);
	pvm_json_get_int(spec, "memory_mib", &g->memory_mib);
	x = 0;
	pvm_json_get_int(spec, "disk_gib", &x);
	g->disk_gib = x;
	g->spec = api_json_dup(spec);
	return g->spec ? 0 : -ENOMEM;
}

int api_h_guest_create(struct api_req *rq, struct api_resp *rs)
{
	struct api_server *srv = rq->srv;
	struct store *st = srv->cfg.store;
	const char *ikey = api_header(rq, "Idempotency-Key");
	char key[STORE_KEY_MAX], hash[STORE_HASH_HEX];
	struct store_guest g = {0};
	struct pvm_err err = {0};
	json_object *spec, *ans;
	int ret;

	if (ikey && (!*ikey || strlen(ikey) > 200)) {
		return api_problem(rs, 400, API_P_INVALID, NULL,
				   "Idempotency-Key must be 1..200 characters");
	}
	if (api_body_parse(rq, rs, api_spec_fields, api_nspec_fields, &spec) < 0)
		return 0;
	if (api_spec_check(spec, &err) < 0) {
		api_problem_err(rs, &err);
		goto out;
	}
	if (guest_from_spec(spec, &g) < 0) {
		api_problem(rs, 500, API_P_INTERNAL, NULL, "out of memory");
		goto out;
	}
	if (ikey) {
		snprintf(key, sizeof(key), "%s:%s", rq->token_id, ikey);
		request_hash(rq, hash);
	}
	pthread_mutex_lock(&srv->place_lock);
	if (ikey && idem_replay(rq, rs, key, hash) == 0)
		goto out_unlock;
	ret = store_tx_begin(st, &err);
	if (ret < 0)
		goto store_err;
	ret = store_guest_create(st, &g, &err);
	if (ret < 0)
		goto rollback;
	if (g.desired_state == STORE_DESIRED_RUNNING) {
		struct pvm_err perr = {0};

		ret = api_place(srv, &g, true, &perr);
		if (ret < 0 && ret != -ENOSPC)
			pvm_log_warn("api: placing %s: %s", g.id, perr.msg);
	}
	ans = api_guest_json(&g);
	if (ikey) {
		struct store_idem r = {.status = 201};

		snprintf(r.key, sizeof(r.key), "%s", key);
		snprintf(r.request_hash, sizeof(r.request_hash), "%s", hash);
		r.body = api_json_dup(ans);
		r.expires_ms = (int64_t)(pvm_wall_ns() / 1000000) + 24 * 3600 * 1000;
		ret = store_idem_put(st, &r, &err);
		free(r.body);
		if (ret < 0) {
			json_object_put(ans);
			goto rollback;
		}
	}
	ret = store_tx_commit(st, &err);
	if (ret < 0) {
		json_object_put(ans);
		goto fleet_undo;
	}
	snprintf(rs->location, sizeof(rs->location), "/v1/guests/%s", g.id);
	api_set_etag(rs, g.generation);
	api_json(rs, 201, ans);
	goto out_unlock;
rollback:
	store_tx_rollback(st);
fleet_undo:
	if (g.id[0])
		sched_fleet_unbind(srv->fleet, g.id);
store_err:
	api_store_problem(rs, ret, &err);
out_unlock:
	pthread_mutex_unlock(&srv->place_lock);
	store_guest_free(&g);
out:
	json_object_put(spec);
	return 0;
}

int api_h_guest_list(struct api_req *rq, struct api_resp *rs)
{
	struct store_list_opts opts = {0};
	struct store_guest_list l = {0};
	struct pvm_err err = {0};
	json_object *items;
	int ret;

	if (api_page_opts(rq, rs, &opts) < 0)
		return 0;
	opts.host_id = api_query(rq, "host_id");
	ret = store_guest_list(rq->srv->cfg.store, &opts, &l, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	items = json_object_new_array_ext((int)l.n);
	for (size_t i = 0; i < l.n; i++)
		json_object_array_add(items, api_guest_json(&l.items[i]));
	api_json(rs, 200, api_page_answer(items, l.next));
	store_guest_list_free(&l);
	return 0;
}

/* Reads a guest a host token may see only when it is bound to that host. */
static int get_scoped(struct api_req *rq, struct api_resp *rs, struct store_guest *g)
{
	struct pvm_err err = {0};
	int ret = store_guest_get(rq->srv->cfg.store, rq->params[0], g, &err);

	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		return ret;
	}
	if (rq->role == API_ROLE_HOST &&
	    (!rq->token_host[0] || strcmp(rq->token_host, g->host_id) != 0)) {
		store_guest_free(g);
		api_problem(rs, 403, API_P_FORBIDDEN, NULL,
			    "a host token may only speak for the guests on its host");
		return -EPERM;
	}
	return 0;
}

int api_h_guest_get(struct api_req *rq, struct api_resp *rs)
{
	struct store_guest g;

	if (get_scoped(rq, rs, &g) < 0)
		return 0;
	api_guest_answer(rq->srv, &g, rs);
	store_guest_free(&g);
	return 0;
}

const struct pvm_json_field api_guest_patch_fields[] = {
    {.name = "desired_state", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
    {.name = "restart_policy", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
};
const size_t api_nguest_patch_fields = PVM_ARRAY_SIZE(api_guest_patch_fields);

int api_h_guest_patch(struct api_req *rq, struct api_resp *rs)
{
	struct api_server *srv = rq->srv;
	struct store *st = srv->cfg.store;
	struct store_guest g = {0};
	struct pvm_err err = {0};
	json_object *body;
	const char *s;
	int64_t gen;
	int ret;

	if (api_if_match(rq, rs, &gen) < 0)
		return 0;
	if (api_body_parse(rq, rs, api_guest_patch_fields, PVM_ARRAY_SIZE(api_guest_patch_fields),
			   &body) < 0)
		return 0;
	ret = store_guest_get(st, rq->params[0], &g, &err);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out;
	}
	if (gen && gen != g.generation) {
		api_problem(rs, 412, API_P_PRECONDITION, NULL,
			    "If-Match \"%lld\" is stale: the guest is at \"%lld\"", (long long)gen,
			    (long long)g.generation);
		goto out_guest;
	}
	if (pvm_json_get_str(body, "desired_state", &s) == 0 &&
	    store_desired_state_parse(s, &g.desired_state) < 0) {
		api_problem(rs, 400, API_P_INVALID, "/desired_state",
			    "field /desired_state must be one of running, stopped");
		goto out_guest;
	}
	if (pvm_json_get_str(body, "restart_policy", &s) == 0 &&
	    store_restart_policy_parse(s, &g.restart_policy) < 0) {
		api_problem(rs, 400, API_P_INVALID, "/restart_policy",
			    "field /restart_policy must be one of never, on-failure, always");
		goto out_guest;
	}
	g.generation = gen;
	ret = store_guest_update(st, &g, &err);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out_guest;
	}
	if (g.desired_state == STORE_DESIRED_RUNNING && !g.host_id[0])
		api_reaper_kick(srv);
	api_guest_answer(srv, &g, rs);
out_guest:
	store_guest_free(&g);
out:
	json_object_put(body);
	return 0;
}

int api_h_guest_delete(struct api_req *rq, struct api_resp *rs)
{
	struct api_server *srv = rq->srv;
	struct pvm_err err = {0};
	int64_t gen;
	int ret;

	if (api_if_match(rq, rs, &gen) < 0)
		return 0;
	pthread_mutex_lock(&srv->place_lock);
	ret = store_guest_delete(srv->cfg.store, rq->params[0], gen, &err);
	if (ret == 0) {
		sched_fleet_unbind(srv->fleet, rq->params[0]);
		api_guest_detail_forget(srv, rq->params[0]);
	}
	pthread_mutex_unlock(&srv->place_lock);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	rs->status = 204;
	return 0;
}

const struct pvm_json_field api_report_fields[] = {
    {.name = "observed_state", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
    {.name = "platform", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
    {.name = "capabilities", .type = PVM_JSON_ARRAY, .max_len = 64},
    {.name = "hook_stats", .type = PVM_JSON_ARRAY, .max_len = 64},
    {.name = "exits", .type = PVM_JSON_OBJECT},
    {.name = "agent", .type = PVM_JSON_OBJECT},
};
const size_t api_nreport_fields = PVM_ARRAY_SIZE(api_report_fields);

static const struct pvm_json_field cap_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = STORE_HOOK_MAX - 1},
    {.name = "state", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 32},
    {.name = "abi_version", .type = PVM_JSON_INT, .max = 65535},
    {.name = "reason", .type = PVM_JSON_STRING, .max_len = STORE_REASON_MAX - 1},
};

static const struct pvm_json_field stat_fields[] = {
    {.name = "hook",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = STORE_HOOK_MAX - 1},
    {.name = "calls", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "doorbells", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "bytes", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "errors", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "exits_avoided", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "histogram", .type = PVM_JSON_OBJECT},
};

struct report {
	bool has_state, has_caps, has_stats, has_exits;
	enum store_observed_state state;
	const char *platform; /* the VMM's, in the request body; NULL when not reported */
	struct store_cap caps[64];
	size_t ncaps;
	struct store_hook_stat stats[64];
	size_t nstats;
	struct store_exit_count exits[STORE_EXIT_REASONS_MAX];
	size_t nexits;
	char *agent; /* JSON text; NULL when the report has none */
	bool agent_stale;
};

static int parse_report(json_object *body, struct report *r, struct pvm_err *err)
{
	json_object *arr;
	const char *s;
	char p[64];
	int ret;

	if (pvm_json_get_str(body, "observed_state", &s) == 0) {
		if (store_observed_state_parse(s, &r->state) < 0)
			return pvm_err_field(err, -EINVAL, "/observed_state",
					     "unknown observed state \"%s\"", s);
		r->has_state = true;
	}
	if (pvm_json_get_str(body, "platform", &s) == 0) {
		if (pvm_platform_id(s) < 0)
			return pvm_err_field(err, -EINVAL, "/platform",
					     "unknown platform \"%.32s\"", s);
		r->platform = s;
	}
	if (json_object_object_get_ex(body, "capabilities", &arr) && arr) {
		r->has_caps = true;
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *e = json_object_array_get_idx(arr, i);
			struct store_cap *c = &r->caps[r->ncaps];
			int64_t abi = 0;

			snprintf(p, sizeof(p), "/capabilities/%zu", i);
			ret = pvm_json_check(e, p, cap_fields, PVM_ARRAY_SIZE(cap_fields), err);
			if (ret < 0)
				return ret;
			pvm_json_get_str(e, "name", &s);
			if (!api_hook_known(s) && strncmp(s, "kvm:", 4) != 0)
				return pvm_err_field(
				    err, -EINVAL, p,
				    "unknown capability \"%s\" (a hook or kvm:NAME)", s);
			snprintf(c->name, sizeof(c->name), "%s", s);
			pvm_json_get_str(e, "state", &s);
			if (store_cap_state_parse(s, &c->state) < 0 ||
			    c->state == STORE_CAP_OFFERED)
				return pvm_err_field(err, -EINVAL, p,
						     "a guest capability is accepted or refused");
			pvm_json_get_int(e, "abi_version", &abi);
			c->abi_version = abi;
			if (pvm_json_get_str(e, "reason", &s) == 0)
				snprintf(c->reason, sizeof(c->reason), "%s", s);
			r->ncaps++;
		}
	}
	if (json_object_object_get_ex(body, "hook_stats", &arr) && arr) {
		r->has_stats = true;
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *e = json_object_array_get_idx(arr, i), *h = NULL;
			struct store_hook_stat *hs = &r->stats[r->nstats];

			snprintf(p, sizeof(p), "/hook_stats/%zu", i);
			ret = pvm_json_check(e, p, stat_fields, PVM_ARRAY_SIZE(stat_fields), err);
			if (ret < 0)
				return ret;
			pvm_json_get_str(e, "hook", &s);
			if (!api_hook_known(s))
				return pvm_err_field(err, -EINVAL, p, "unknown hook \"%s\"", s);
			snprintf(hs->hook, sizeof(hs->hook), "%s", s);
			pvm_json_get_int(e, "calls", &hs->calls);
			pvm_json_get_int(e, "doorbells", &hs->doorbells);
			pvm_json_get_int(e, "bytes", &hs->bytes);
			pvm_json_get_int(e, "errors", &hs->errors);
			pvm_json_get_int(e, "exits_avoided", &hs->exits_avoided);
			if (json_object_object_get_ex(e, "histogram", &h) && h)
				hs->histogram = api_json_dup(h);
			r->nstats++;
		}
	}
	if (json_object_object_get_ex(body, "exits", &arr) && arr) {
		r->has_exits = true;
		ret = api_report_exits_parse(arr, "/exits", r->exits, &r->nexits, err);
		if (ret < 0)
			return ret;
	}
	if (json_object_object_get_ex(body, "agent", &arr) && arr) {
		ret = api_report_agent_check(arr, "/agent", err);
		if (ret < 0)
			return ret;
		pvm_json_get_bool(arr, "stale", &r->agent_stale);
		r->agent = api_json_dup(arr);
		if (!r->agent)
			return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* A report's total of vCPU exits: its "total", else the sum of its reasons. */
static int64_t exits_total(const struct store_exit_count *e, size_t n)
{
	int64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].reason, "total") == 0)
			return e[i].count;
		sum += e[i].count;
	}
	return sum;
}

/* The increase of a cumulative counter; one that went down means the VMM
 * restarted, so its value is the increase. */
static int64_t increase(int64_t cur, int64_t prev)
{
	return cur >= prev ? cur - prev : cur;
}

/*
 * Turns a report's cumulative counters into the rates the scheduler's
 * pv-affinity and exit-pressure scorers read: the increase since the
 * previous report over the time between them. Exit pressure comes from the
 * VMM's total of vCPU exits when the report carries them (emulated guests
 * have no hooks but exit the most), else from the hooks' doorbells.
 */
static void feed_scheduler(struct api_server *srv, const struct store_guest *g,
			   const struct report *r)
{
	struct store_hook_stat *prev = NULL;
	struct store_exit_count *pexits = NULL;
	struct pvm_err err = {0};
	struct sched_guest sg;
	size_t nprev = 0, npexits = 0;
	int64_t now_ms = (int64_t)(pvm_wall_ns() / 1000000);
	json_object *spec = NULL;
	double bells_per_s = 0;
	bool any = false, any_bells = false;

	if (!g->host_id[0] ||
	    store_hook_stats_get(srv->cfg.store, g->id, &prev, &nprev, NULL) < 0 ||
	    store_guest_exits_get(srv->cfg.store, g->id, &pexits, &npexits, NULL) < 0)
		goto out;
	spec = api_json_text(g->spec);
	if (api_sched_guest(g->id, spec, &sg, &err) < 0)
		goto out;
	for (size_t i = 0; i < r->nstats; i++) {
		const struct store_hook_stat *cur = &r->stats[i];
		int bit = api_hook_bit(cur->hook);

		for (size_t k = 0; k < nprev && bit >= 0; k++) {
			double dt = (double)(now_ms - prev[k].updated_ms) / 1000.0;

			if (strcmp(prev[k].hook, cur->hook) != 0 || dt <= 0)
				continue;
			sg.stats.calls_per_s[bit] =
			    (double)increase(cur->calls, prev[k].calls) / dt;
			sg.stats.exits_avoided_per_s[bit] =
			    (double)increase(cur->exits_avoided, prev[k].exits_avoided) / dt;
			bells_per_s += (double)increase(cur->doorbells, prev[k].doorbells) / dt;
			any = any_bells = true;
		}
	}
	sg.stats.exits_per_s = bells_per_s;
	if (r->has_exits && npexits > 0) {
		double dt = (double)(now_ms - pexits[0].updated_ms) / 1000.0;

		if (dt > 0) {
			sg.stats.exits_per_s = (double)increase(exits_total(r->exits, r->nexits),
								exits_total(pexits, npexits)) /
					       dt;
			any = true;
		}
	}
	if (any) {
		sg.stats.known = true;
		pthread_mutex_lock(&srv->place_lock);
		sched_fleet_guest_update(srv->fleet, &sg, &err);
		pthread_mutex_unlock(&srv->place_lock);
	}
out:
	json_object_put(spec);
	free(pexits);
	store_hook_stats_free(prev, nprev);
}

int api_h_guest_report(struct api_req *rq, struct api_resp *rs)
{
	struct store *st = rq->srv->cfg.store;
	struct report *r;
	struct store_guest g;
	struct pvm_err err = {0};
	json_object *body, *ans;
	int ret;

	if (api_body_parse(rq, rs, api_report_fields, PVM_ARRAY_SIZE(api_report_fields), &body) < 0)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r) {
		api_problem(rs, 500, API_P_INTERNAL, NULL, "out of memory");
		goto out;
	}
	if (parse_report(body, r, &err) < 0) {
		api_problem_err(rs, &err);
		goto out;
	}
	if (get_scoped(rq, rs, &g) < 0)
		goto out;
	if (r->has_stats || r->has_exits)
		feed_scheduler(rq->srv, &g, r);
	ret = store_tx_begin(st, &err);
	if (ret == 0 && r->has_state)
		ret = store_guest_set_observed(st, g.id, r->state, NULL, &err);
	if (ret == 0 && r->platform)
		ret = store_guest_set_platform(st, g.id, r->platform, &err);
	if (ret == 0 && r->has_caps)
		ret = store_guest_caps_set(st, g.id, r->caps, r->ncaps, &err);
	if (ret == 0 && r->has_stats)
		ret = store_hook_stats_put(st, g.id, r->stats, r->nstats, 0, &err);
	if (ret == 0 && r->has_exits)
		ret = store_guest_exits_put(st, g.id, r->exits, r->nexits, 0, &err);
	if (ret == 0 && r->agent) {
		ret = store_guest_agent_put(st, g.id, r->agent, r->agent_stale, 0, &err);
		if (ret > 0)
			ret = 0;
	}
	if (ret == 0)
		ret = store_tx_commit(st, &err);
	else
		store_tx_rollback(st);
	api_guest_detail_forget(rq->srv, g.id);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out_guest;
	}
	ans = json_object_new_object();
	json_object_object_add(ans, "desired_state",
			       json_object_new_string(store_desired_state_name(g.desired_state)));
	json_object_object_add(ans, "generation", json_object_new_int64(g.generation));
	api_json(rs, 200, ans);
out_guest:
	store_guest_free(&g);
out:
	if (r) {
		for (size_t i = 0; i < r->nstats; i++)
			free(r->stats[i].histogram);
		free(r->agent);
	}
	free(r);
	json_object_put(body);
	return 0;
}
