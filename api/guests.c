/* SPDX-License-Identifier: MIT */
/*
 * /v1/guests: create (stored pending in one transaction, then placed by the
 * controller, whose decision the answer waits for), read, desired state,
 * delete, and the host's reports of observed state, negotiated hooks and
 * hook statistics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "api/handlers.h"
#include "controller/controller.h"
#include "hv/pv_abi.h"
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

/* Two store reads per answer, no cache: a report through any controller
 * sharing the store shows at once. */
int api_guest_answer(struct api_server *srv, const struct store_guest *g, struct api_resp *rs)
{
	json_object *o, *d = detail_from_store(srv->cfg.store, g->id);

	if (!d)
		return api_problem(rs, 503, API_P_UNAVAILABLE, NULL,
				   "the store does not answer for guest %s", g->id);
	o = api_guest_json(g);
	json_object_object_foreach(d, key, val)
	{
		json_object_object_add(o, key, json_object_get(val));
	}
	json_object_put(d);
	api_set_etag(rs, g->generation);
	return api_json(rs, 200, o);
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

/* The request as parsed, so a body that differs only in whitespace is the same request. */
static void request_hash(struct api_req *rq, json_object *body, char out[STORE_HASH_HEX])
{
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	gnutls_hash_hd_t h;
	unsigned char d[32];

	gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
	gnutls_hash(h, rq->method, strlen(rq->method) + 1);
	gnutls_hash(h, rq->path, strlen(rq->path) + 1);
	gnutls_hash(h, text, strlen(text));
	gnutls_hash_deinit(h, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/*
 * Answers a replay (0 and rs filled), or says there is none (-ENOENT). A
 * replay answers the guest as it is now (placed since, perhaps), or the
 * first answer when the guest is gone.
 */
static int idem_replay(struct api_req *rq, struct api_resp *rs, const char *key, const char *hash)
{
	struct store *st = rq->srv->cfg.store;
	struct store_idem r = {0};
	struct store_guest g;
	json_object *first;
	const char *id = NULL;
	int ret = store_idem_get(st, key, 0, &r, NULL);

	if (ret < 0)
		return ret;
	if (strcmp(r.request_hash, hash) != 0) {
		api_problem(rs, 422, API_P_IDEMPOTENCY, NULL,
			    "Idempotency-Key was first used with another request");
		goto out;
	}
	first = json_tokener_parse(r.body);
	if (r.status == 201 && pvm_json_get_str(first, "id", &id) == 0)
		snprintf(rs->location, sizeof(rs->location), "/v1/guests/%s", id);
	if (r.status == 201 && id && store_guest_get(st, id, &g, NULL) == 0) {
		api_set_etag(rs, g.generation);
		api_json(rs, 201, api_guest_json(&g));
		store_guest_free(&g);
	} else {
		rs->status = (unsigned)r.status;
		rs->raw = r.body;
		rs->raw_len = strlen(r.body);
		rs->content_type = "application/json";
		r.body = NULL;
	}
	json_object_put(first);
out:
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

/*
 * Linux guests boot linux-format images (a folder with vmlinuz and initrd),
 * and only they do, where the spec names a registered image. Returns
 * -EINVAL for the client's mistake; other errors are the store's.
 */
static int image_check(struct store *st, json_object *spec, struct pvm_err *err)
{
	const char *ref = "", *kind = "microguest";
	struct store_image im;
	bool linux_kind;
	int ret;

	pvm_json_get_str(spec, "image", &ref);
	pvm_json_get_str(spec, "kind", &kind);
	ret = api_image_find(st, ref, &im, err);
	if (ret < 0)
		return ret == -ENOENT ? 0 : ret;
	linux_kind = strcmp(kind, "linux") == 0;
	if (linux_kind != (strcmp(im.format, "linux") == 0))
		ret = pvm_err_field(err, -EINVAL, "/image",
				    "image %s has format %s: %s guests boot %s images", im.name,
				    im.format, kind, linux_kind ? "linux" : "non-linux");
	store_image_free(&im);
	return ret;
}

/* How long a create waits for the controller's decision before it answers
 * with the guest still pending (the CLI's --wait then watches it). */
#define API_PLACE_WAIT_NS (2ull * 1000000000ull)

static int idem_record(struct store *st, const char *key, const char *hash,
		       const struct store_guest *g, struct pvm_err *err)
{
	struct store_idem r = {.status = 201};
	json_object *ans = api_guest_json(g);
	int ret;

	snprintf(r.key, sizeof(r.key), "%s", key);
	snprintf(r.request_hash, sizeof(r.request_hash), "%s", hash);
	r.body = api_json_dup(ans);
	json_object_put(ans);
	r.expires_ms = (int64_t)(pvm_wall_ns() / 1000000) + 24 * 3600 * 1000;
	ret = r.body ? store_idem_put(st, &r, err) : pvm_err_set(err, -ENOMEM, "out of memory");
	free(r.body);
	return ret;
}

/*
 * One transaction stores the guest (and its idempotency key: the key's
 * check and the create are atomic, whichever controller serves a retry);
 * then the answer waits, bounded, for the controller's placement.
 */
int api_h_guest_create(struct api_req *rq, struct api_resp *rs)
{
	struct api_server *srv = rq->srv;
	struct store *st = srv->cfg.store;
	const char *ikey = api_header(rq, "Idempotency-Key");
	char key[STORE_KEY_MAX], hash[STORE_HASH_HEX];
	struct store_guest g = {0}, d;
	struct pvm_err err = {0};
	json_object *spec;
	int64_t since = 0;
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
	ret = image_check(st, spec, &err);
	if (ret == -EINVAL) {
		api_problem_err(rs, &err);
		goto out;
	}
	if (ret < 0)
		goto store_err;
	if (guest_from_spec(spec, &g) < 0) {
		api_problem(rs, 500, API_P_INTERNAL, NULL, "out of memory");
		goto out;
	}
	if (ikey) {
		snprintf(key, sizeof(key), "%s:%s", rq->token_id, ikey);
		request_hash(rq, spec, hash);
	}
	ret = store_events_last_seq(st, &since, &err);
	if (ret == 0)
		ret = store_tx_begin(st, &err);
	if (ret < 0)
		goto store_err;
	if (ikey) {
		ret = idem_replay(rq, rs, key, hash);
		if (ret == 0) {
			store_tx_rollback(st);
			goto out;
		}
		if (ret != -ENOENT)
			goto rollback;
	}
	ret = store_guest_create(st, &g, &err);
	if (ret == 0 && ikey)
		ret = idem_record(st, key, hash, &g, &err);
	if (ret < 0)
		goto rollback;
	ret = store_tx_commit(st, &err);
	if (ret < 0)
		goto store_err;
	if (g.desired_state == STORE_DESIRED_RUNNING) {
		ret = controller_wait_decision(srv->cfg.controller, g.id, since,
					       pvm_now_ns() + API_PLACE_WAIT_NS, &d, &err);
		if (ret == 0 || ret == -ETIMEDOUT) {
			store_guest_free(&g);
			g = d;
		}
	}
	snprintf(rs->location, sizeof(rs->location), "/v1/guests/%s", g.id);
	api_set_etag(rs, g.generation);
	api_json(rs, 201, api_guest_json(&g));
	goto out;
rollback:
	store_tx_rollback(st);
store_err:
	api_store_problem(rs, ret, &err);
out:
	store_guest_free(&g);
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
    {.name = "desired_state",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 32,
     .name_of = store_desired_state_nth},
    {.name = "restart_policy",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 32,
     .name_of = store_restart_policy_nth},
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
	ret = store_guest_delete(srv->cfg.store, rq->params[0], gen, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	rs->status = 204;
	return 0;
}

/* The report body: the host's view (observed state, the agent) beside the
 * VMM's statistics report, one definition in common/. */
const struct pvm_json_field api_report_fields[] = {
    {.name = "observed_state",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 32,
     .name_of = store_observed_state_nth},
    {.name = "agent", .type = PVM_JSON_OBJECT},
    PVM_REPORT_FIELDS,
};
const size_t api_nreport_fields = PVM_ARRAY_SIZE(api_report_fields);

_Static_assert(PVM_REPORT_NAME_MAX <= STORE_HOOK_MAX, "report names fit the store");
_Static_assert(PVM_REPORT_REASON_MAX <= STORE_REASON_MAX, "refusal reasons fit the store");
_Static_assert(PVM_REPORT_MAP_MAX <= STORE_EXIT_REASONS_MAX, "exit reasons fit the store");

struct report {
	bool has_state;
	enum store_observed_state state;
	struct pvm_report rep;
	struct store_cap caps[PVM_REPORT_CAPS_MAX];
	struct store_hook_stat stats[PVM_REPORT_HOOKS_MAX];
	struct store_exit_count exits[PVM_REPORT_MAP_MAX];
	char *agent; /* JSON text; NULL when the report has none */
	bool agent_stale;
};

/* The decoded statistics report in the store's rows. */
static int report_rows(struct report *r, struct pvm_err *err)
{
	const struct pvm_report *rep = &r->rep;

	for (size_t i = 0; i < rep->ncaps; i++) {
		struct store_cap *c = &r->caps[i];

		snprintf(c->name, sizeof(c->name), "%s", rep->caps[i].name);
		c->state = rep->caps[i].accepted ? STORE_CAP_ACCEPTED : STORE_CAP_REFUSED;
		c->abi_version = rep->caps[i].abi_version;
		snprintf(c->reason, sizeof(c->reason), "%s", rep->caps[i].reason);
	}
	for (size_t i = 0; i < rep->nhooks; i++) {
		const struct pvm_report_hook *h = &rep->hooks[i];
		struct store_hook_stat *hs = &r->stats[i];
		json_object *hist = pvm_report_histogram_json(h);

		snprintf(hs->hook, sizeof(hs->hook), "%s", pv_hook_name(h->hook));
		hs->calls = h->calls;
		hs->doorbells = h->doorbells;
		hs->bytes = h->bytes;
		hs->errors = h->errors;
		hs->exits_avoided = h->exits_avoided;
		hs->histogram = hist ? api_json_dup(hist) : NULL;
		json_object_put(hist);
		if (h->has_histogram && !hs->histogram)
			return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < rep->nexits; i++) {
		snprintf(r->exits[i].reason, sizeof(r->exits[i].reason), "%s",
			 rep->exits[i].reason);
		r->exits[i].count = rep->exits[i].count;
	}
	return 0;
}

static int parse_report(json_object *body, struct report *r, struct pvm_err *err)
{
	json_object *agent;
	const char *s;
	int ret;

	ret = pvm_report_decode(body, "", api_report_fields, api_nreport_fields, &r->rep, err);
	if (ret < 0)
		return ret;
	if (pvm_json_get_str(body, "observed_state", &s) == 0) {
		if (store_observed_state_parse(s, &r->state) < 0)
			return pvm_err_field(err, -EINVAL, "/observed_state",
					     "unknown observed state \"%s\"", s);
		r->has_state = true;
	}
	ret = report_rows(r, err);
	if (ret < 0)
		return ret;
	if (json_object_object_get_ex(body, "agent", &agent) && agent) {
		ret = api_report_agent_check(agent, "/agent", err);
		if (ret < 0)
			return ret;
		pvm_json_get_bool(agent, "stale", &r->agent_stale);
		r->agent = api_json_dup(agent);
		if (!r->agent)
			return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
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
	ret = store_tx_begin(st, &err);
	if (ret == 0 && r->has_state)
		ret = store_guest_set_observed(st, g.id, r->state, NULL, &err);
	if (ret == 0 && r->rep.has_platform)
		ret = store_guest_set_platform(st, g.id, pvm_platform_name(r->rep.platform), &err);
	if (ret == 0 && r->rep.has_caps)
		ret = store_guest_caps_set(st, g.id, r->caps, r->rep.ncaps, &err);
	if (ret == 0 && r->rep.has_hooks)
		ret = store_hook_stats_put(st, g.id, r->stats, r->rep.nhooks, 0, &err);
	if (ret == 0 && r->rep.has_exits)
		ret = store_guest_exits_put(st, g.id, r->exits, r->rep.nexits, 0, &err);
	if (ret == 0 && r->agent) {
		ret = store_guest_agent_put(st, g.id, r->agent, r->agent_stale, 0, &err);
		if (ret > 0)
			ret = 0;
	}
	if (ret == 0)
		ret = store_tx_commit(st, &err);
	else
		store_tx_rollback(st);
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
		for (size_t i = 0; i < r->rep.nhooks; i++)
			free(r->stats[i].histogram);
		free(r->agent);
	}
	free(r);
	json_object_put(body);
	return 0;
}
