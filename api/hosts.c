/* SPDX-License-Identifier: MIT */
/* /v1/hosts: registration, heartbeats with capabilities, cordon and drain. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "controller/controller.h"
#include "store/store.h"

#define I64 INT64_MIN, INT64_MAX

json_object *api_host_json(const struct store_host *h)
{
	json_object *o = json_object_new_object();
	json_object *free_o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(h->id));
	json_object_object_add(o, "name", json_object_new_string(h->name));
	json_object_object_add(o, "address", json_object_new_string(h->address));
	json_object_object_add(o, "state", json_object_new_string(store_host_state_name(h->state)));
	json_object_object_add(o, "cordoned", json_object_new_boolean(h->cordoned));
	json_object_object_add(o, "draining", json_object_new_boolean(h->draining));
	json_object_object_add(o, "labels", api_json_text(h->labels));
	json_object_object_add(o, "capabilities", api_json_text(h->capabilities));
	json_object_object_add(o, "cpus", json_object_new_int64(h->cpus));
	json_object_object_add(o, "memory_mib", json_object_new_int64(h->memory_mib));
	json_object_object_add(o, "disk_gib", json_object_new_int64(h->disk_gib));
	json_object_object_add(free_o, "cpus", json_object_new_int64(h->free_cpus));
	json_object_object_add(free_o, "memory_mib", json_object_new_int64(h->free_memory_mib));
	json_object_object_add(free_o, "disk_gib", json_object_new_int64(h->free_disk_gib));
	json_object_object_add(o, "free", free_o);
	json_object_object_add(o, "last_heartbeat_ms", json_object_new_int64(h->last_heartbeat_ms));
	json_object_object_add(o, "generation", json_object_new_int64(h->generation));
	json_object_object_add(o, "created_ms", json_object_new_int64(h->created_ms));
	json_object_object_add(o, "updated_ms", json_object_new_int64(h->updated_ms));
	return o;
}

static const struct pvm_json_field hook_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = STORE_HOOK_MAX - 1},
    {.name = "abi_version", .type = PVM_JSON_INT, .required = true, .min = 1, .max = 65535},
};

static const struct pvm_json_field free_fields[] = {
    {.name = "cpus", .type = PVM_JSON_INT, .max = 4096},
    {.name = "memory_mib", .type = PVM_JSON_INT, .max = 1LL << 32},
    {.name = "disk_gib", .type = PVM_JSON_INT, .max = 1LL << 24},
};

static const struct pvm_json_field hook_item = {
    .type = PVM_JSON_OBJECT, .fields = hook_fields, .nfields = PVM_ARRAY_SIZE(hook_fields)};
static const struct pvm_json_field platform_item = {
    .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32, .name_of = pvm_platform_name};

const struct pvm_json_field api_host_register_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = STORE_NAME_MAX - 1},
    {.name = "address", .type = PVM_JSON_STRING, .max_len = STORE_ADDR_MAX - 1},
    {.name = "cpus", .type = PVM_JSON_INT, .max = 4096},
    {.name = "memory_mib", .type = PVM_JSON_INT, .max = 1LL << 32},
    {.name = "disk_gib", .type = PVM_JSON_INT, .max = 1LL << 24},
    {.name = "labels", .type = PVM_JSON_OBJECT},
    {.name = "platforms",
     .type = PVM_JSON_ARRAY,
     .max_len = 16,
     .item = &platform_item,
     .unique = true,
     .doc = "the hv platforms the host offers; kept in its capabilities"},
};
const size_t api_nhost_register_fields = PVM_ARRAY_SIZE(api_host_register_fields);

/*
 * A host token registers once; a restarted host daemon gets its row back
 * (200). -ENOENT when the token's host is gone (an operator deleted it): the
 * token registers anew. Anything else is answered here.
 */
static int answer_token_host(struct api_resp *rs, struct store *st, const char *host_id,
			     const char *name)
{
	struct pvm_err err = {0};
	struct store_host cur;
	int ret;

	ret = store_host_get(st, host_id, &cur, &err);
	if (ret == -ENOENT)
		return ret;
	if (ret < 0)
		return api_store_problem(rs, ret, &err), 0;
	if (strcmp(cur.name, name) != 0)
		api_problem(rs, 403, API_P_FORBIDDEN, "/name", "this host token belongs to host %s",
			    cur.id);
	else {
		api_set_etag(rs, cur.generation);
		api_json(rs, 200, api_host_json(&cur));
	}
	store_host_free(&cur);
	return 0;
}

int api_h_host_register(struct api_req *rq, struct api_resp *rs)
{
	struct store *st = rq->srv->cfg.store;
	struct store_host h = {0};
	struct pvm_err err = {0};
	json_object *body, *labels = NULL, *platforms = NULL;
	const char *s;
	int ret;

	if (api_body_parse(rq, rs, api_host_register_fields,
			   PVM_ARRAY_SIZE(api_host_register_fields), &body) < 0)
		return 0;
	json_object_object_get_ex(body, "labels", &labels);
	json_object_object_get_ex(body, "platforms", &platforms);
	if (api_check_labels(labels, "/labels", &err) < 0) {
		api_problem_err(rs, &err);
		goto out;
	}
	pvm_json_get_str(body, "name", &s);
	snprintf(h.name, sizeof(h.name), "%s", s);
	if (pvm_json_get_str(body, "address", &s) == 0)
		snprintf(h.address, sizeof(h.address), "%s", s);
	pvm_json_get_int(body, "cpus", &h.cpus);
	pvm_json_get_int(body, "memory_mib", &h.memory_mib);
	pvm_json_get_int(body, "disk_gib", &h.disk_gib);

	if (rq->role == API_ROLE_HOST && rq->token_host[0] &&
	    answer_token_host(rs, st, rq->token_host, h.name) != -ENOENT)
		goto out;
	h.state = STORE_HOST_NOT_READY;
	h.labels = labels ? api_json_dup(labels) : NULL;
	/* The platforms it offers open the capability document its heartbeats
	 * then keep up to date. */
	if (platforms) {
		json_object *caps = json_object_new_object();

		json_object_object_add(caps, "platforms", json_object_get(platforms));
		h.capabilities = api_json_dup(caps);
		json_object_put(caps);
	}
	ret = store_tx_begin(st, &err);
	if (ret == 0) {
		ret = store_host_create(st, &h, &err);
		if (ret == 0 && rq->role == API_ROLE_HOST) {
			ret = store_token_set_host(st, rq->token_id, 0, h.id, &err);
			api_tokcache_forget(rq->srv, rq->token_id);
		}
		if (ret == 0)
			ret = store_tx_commit(st, &err);
		else
			store_tx_rollback(st);
	}
	/* A retry through a controller whose token cache predates the first
	 * registration: the store knows the token's host. */
	if (ret == -EEXIST && rq->role == API_ROLE_HOST) {
		struct store_token tok;

		if (store_token_get(st, rq->token_id, &tok, NULL) == 0 && tok.host_id[0] &&
		    answer_token_host(rs, st, tok.host_id, h.name) != -ENOENT)
			goto out_host;
	}
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out_host;
	}
	snprintf(rs->location, sizeof(rs->location), "/v1/hosts/%s", h.id);
	api_set_etag(rs, h.generation);
	api_json(rs, 201, api_host_json(&h));
out_host:
	store_host_free(&h);
out:
	json_object_put(body);
	return 0;
}

int api_h_host_list(struct api_req *rq, struct api_resp *rs)
{
	struct store_list_opts opts = {0};
	struct store_host_list l = {0};
	struct pvm_err err = {0};
	json_object *items;
	int ret;

	if (api_page_opts(rq, rs, &opts) < 0)
		return 0;
	ret = store_host_list(rq->srv->cfg.store, &opts, &l, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	items = json_object_new_array_ext((int)l.n);
	for (size_t i = 0; i < l.n; i++)
		json_object_array_add(items, api_host_json(&l.items[i]));
	api_json(rs, 200, api_page_answer(items, l.next));
	store_host_list_free(&l);
	return 0;
}

int api_h_host_get(struct api_req *rq, struct api_resp *rs)
{
	struct store_host h;
	struct pvm_err err = {0};
	int ret;

	if (api_host_scope(rq, rs, rq->params[0]) < 0)
		return 0;
	ret = store_host_get(rq->srv->cfg.store, rq->params[0], &h, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	api_set_etag(rs, h.generation);
	api_json(rs, 200, api_host_json(&h));
	store_host_free(&h);
	return 0;
}

/* ns one vCPU exit costs on the host, by platform, as it measured at start. */
_Static_assert(PVM_PLATFORM_COUNT == 2, "one exit_cost_ns member per platform");
static const struct pvm_json_field cost_fields[] = {
    {.name = "kvm", .type = PVM_JSON_INT, .min = 1, .max = 1000000000},
    {.name = "process", .type = PVM_JSON_INT, .min = 1, .max = 1000000000},
};

static const struct pvm_json_field kind_item = {
    .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32, .name_of = store_guest_kind_nth};

static const char *linux_accel_nth(unsigned i)
{
	static const char *const accel[] = {"kvm", "tcg"};

	return i < PVM_ARRAY_SIZE(accel) ? accel[i] : NULL;
}

const struct pvm_json_field api_heartbeat_fields[] = {
    {.name = "hooks", .type = PVM_JSON_ARRAY, .max_len = 64, .item = &hook_item},
    {.name = "abi_versions", .type = PVM_JSON_ARRAY, .max_len = 16},
    {.name = "kvm_pv_features", .type = PVM_JSON_ARRAY, .max_len = 64},
    {.name = "drivers", .type = PVM_JSON_ARRAY, .max_len = 16},
    {.name = "kinds",
     .type = PVM_JSON_ARRAY,
     .max_len = 8,
     .item = &kind_item,
     .unique = true,
     .doc = "the guest kinds the host's drivers run; the scheduler places a guest only on a host "
	    "that reports its kind (a host that reports none takes every kind)"},
    {.name = "linux_accel",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 8,
     .name_of = linux_accel_nth,
     .doc = "how the host runs Linux guests: kvm (VMX/SVM with the vendor module) or tcg "
	    "(QEMU's emulator, several times slower)"},
    {.name = "emulation", .type = PVM_JSON_BOOL},
    {.name = "cpus", .type = PVM_JSON_INT, .max = 4096},
    {.name = "memory_mib", .type = PVM_JSON_INT, .max = 1LL << 32},
    {.name = "disk_gib", .type = PVM_JSON_INT, .max = 1LL << 24},
    {.name = "free",
     .type = PVM_JSON_OBJECT,
     .fields = free_fields,
     .nfields = PVM_ARRAY_SIZE(free_fields)},
    {.name = "exit_cost_ns",
     .type = PVM_JSON_OBJECT,
     .fields = cost_fields,
     .nfields = PVM_ARRAY_SIZE(cost_fields),
     .doc = "what one vCPU exit costs on this host, by platform, as it measured at start (the "
	    "bare microguest's port writes); the scheduler's exit pressure uses it"},
    {.name = "labels", .type = PVM_JSON_OBJECT},
    {.name = "platforms",
     .type = PVM_JSON_ARRAY,
     .max_len = 16,
     .item = &platform_item,
     .unique = true,
     .doc = "the hv platforms the host offers; a host that reports none takes no guest that "
	    "requires a platform"},
};
const size_t api_nheartbeat_fields = PVM_ARRAY_SIZE(api_heartbeat_fields);

static bool any_name(const char *s)
{
	(void)s;
	return true;
}

/* Validates the heartbeat beyond its top-level shape; fills caps. */
static int check_heartbeat(json_object *body, struct store_cap *caps, size_t *ncaps,
			   struct pvm_err *err)
{
	json_object *v;
	char p[64];
	int ret;

	*ncaps = 0;
	if (json_object_object_get_ex(body, "hooks", &v) && v) {
		size_t n = json_object_array_length(v);

		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(v, i);
			const char *name;
			int64_t abi;

			snprintf(p, sizeof(p), "/hooks/%zu", i);
			pvm_json_get_str(e, "name", &name);
			pvm_json_get_int(e, "abi_version", &abi);
			if (!api_hook_known(name))
				return pvm_err_field(err, -EINVAL, p, "unknown hook \"%s\"", name);
			snprintf(caps[*ncaps].name, STORE_HOOK_MAX, "%s", name);
			caps[*ncaps].state = STORE_CAP_OFFERED;
			caps[*ncaps].abi_version = abi;
			caps[*ncaps].reason[0] = '\0';
			(*ncaps)++;
		}
	}
	if (json_object_object_get_ex(body, "abi_versions", &v) && v) {
		size_t n = json_object_array_length(v);

		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(v, i);

			if (!json_object_is_type(e, json_type_int) ||
			    json_object_get_int64(e) < 1 || json_object_get_int64(e) > 65535) {
				snprintf(p, sizeof(p), "/abi_versions/%zu", i);
				return pvm_err_field(err, -EINVAL, p,
						     "ABI versions are integers 1..65535");
			}
		}
	}
	json_object_object_get_ex(body, "kvm_pv_features", &v);
	ret = api_check_str_array(v, "/kvm_pv_features", 63, any_name, err);
	if (ret < 0)
		return ret;
	v = NULL;
	json_object_object_get_ex(body, "drivers", &v);
	ret = api_check_str_array(v, "/drivers", 63, any_name, err);
	if (ret < 0)
		return ret;
	v = NULL;
	json_object_object_get_ex(body, "labels", &v);
	return api_check_labels(v, "/labels", err);
}

int api_h_host_heartbeat(struct api_req *rq, struct api_resp *rs)
{
	struct store *st = rq->srv->cfg.store;
	struct store_heartbeat hb = {.cpus = -1, .memory_mib = -1, .disk_gib = -1};
	struct store_cap caps[64];
	struct store_host h = {0};
	struct pvm_err err = {0};
	json_object *body, *capobj, *labels = NULL, *v;
	char *captext = NULL;
	size_t ncaps;
	int ret;

	if (api_host_scope(rq, rs, rq->params[0]) < 0)
		return 0;
	if (api_body_parse(rq, rs, api_heartbeat_fields, PVM_ARRAY_SIZE(api_heartbeat_fields),
			   &body) < 0)
		return 0;
	if (check_heartbeat(body, caps, &ncaps, &err) < 0) {
		api_problem_err(rs, &err);
		goto out;
	}
	ret = store_host_get(st, rq->params[0], &h, &err);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out;
	}
	store_host_free(&h);
	/* Everything but capacity and labels is the capability document. */
	capobj = json_object_new_object();
	json_object_object_foreach(body, key, val)
	{
		if (strcmp(key, "cpus") && strcmp(key, "memory_mib") && strcmp(key, "disk_gib") &&
		    strcmp(key, "labels"))
			json_object_object_add(capobj, key, json_object_get(val));
	}
	/* A bare heartbeat ("{}") keeps the capabilities the host sent before. */
	if (json_object_object_length(capobj) > 0)
		captext = api_json_dup(capobj);
	json_object_put(capobj);
	hb.capabilities = captext;
	pvm_json_get_int(body, "cpus", &hb.cpus);
	pvm_json_get_int(body, "memory_mib", &hb.memory_mib);
	pvm_json_get_int(body, "disk_gib", &hb.disk_gib);
	ret = store_tx_begin(st, &err);
	if (ret == 0) {
		ret = store_host_heartbeat(st, rq->params[0], &hb, &h, &err);
		if (ret == 0 && json_object_object_get_ex(body, "hooks", &v) && v)
			ret = store_host_caps_set(st, rq->params[0], caps, ncaps, &err);
		if (ret == 0 && json_object_object_get_ex(body, "labels", &labels) && labels) {
			char *lt = api_json_dup(labels);

			free(h.labels);
			h.labels = lt;
			h.generation = 0;
			ret = store_host_update(st, &h, &err);
		}
		if (ret == 0)
			ret = store_tx_commit(st, &err);
		else
			store_tx_rollback(st);
	}
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out_host;
	}
	json_object *ans = json_object_new_object();

	json_object_object_add(ans, "state",
			       json_object_new_string(store_host_state_name(h.state)));
	json_object_object_add(ans, "heartbeat_interval_s",
			       json_object_new_int((int)rq->srv->cfg.heartbeat_s));
	json_object_object_add(
	    ans, "lease_s",
	    json_object_new_int((int)rq->srv->cfg.heartbeat_s * CONTROLLER_LEASE_BEATS));
	json_object_object_add(
	    ans, "fence_margin_s",
	    json_object_new_int((int)rq->srv->cfg.heartbeat_s * CONTROLLER_FENCE_MARGIN_BEATS));
	json_object_object_add(ans, "generation", json_object_new_int64(h.generation));
	api_json(rs, 200, ans);
out_host:
	store_host_free(&h);
out:
	free(captext);
	json_object_put(body);
	return 0;
}

const struct pvm_json_field api_host_patch_fields[] = {
    {.name = "cordoned", .type = PVM_JSON_BOOL},
    {.name = "draining", .type = PVM_JSON_BOOL},
    {.name = "labels", .type = PVM_JSON_OBJECT},
};
const size_t api_nhost_patch_fields = PVM_ARRAY_SIZE(api_host_patch_fields);

int api_h_host_patch(struct api_req *rq, struct api_resp *rs)
{
	struct store *st = rq->srv->cfg.store;
	struct store_host h = {0};
	struct pvm_err err = {0};
	json_object *body, *labels = NULL;
	int64_t gen;
	int ret;

	if (api_if_match(rq, rs, &gen) < 0)
		return 0;
	if (api_body_parse(rq, rs, api_host_patch_fields, PVM_ARRAY_SIZE(api_host_patch_fields),
			   &body) < 0)
		return 0;
	json_object_object_get_ex(body, "labels", &labels);
	if (api_check_labels(labels, "/labels", &err) < 0) {
		api_problem_err(rs, &err);
		goto out;
	}
	ret = store_host_get(st, rq->params[0], &h, &err);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out;
	}
	if (gen && gen != h.generation) {
		api_problem(rs, 412, API_P_PRECONDITION, NULL,
			    "If-Match \"%lld\" is stale: the host is at \"%lld\"", (long long)gen,
			    (long long)h.generation);
		goto out_host;
	}
	pvm_json_get_bool(body, "cordoned", &h.cordoned);
	pvm_json_get_bool(body, "draining", &h.draining);
	if (labels) {
		free(h.labels);
		h.labels = api_json_dup(labels);
	}
	if (!gen)
		h.generation = 0;
	ret = store_host_update(st, &h, &err);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out_host;
	}
	api_set_etag(rs, h.generation);
	api_json(rs, 200, api_host_json(&h));
out_host:
	store_host_free(&h);
out:
	json_object_put(body);
	return 0;
}

int api_h_host_delete(struct api_req *rq, struct api_resp *rs)
{
	struct pvm_err err = {0};
	int64_t gen;
	int ret;

	if (api_if_match(rq, rs, &gen) < 0)
		return 0;
	ret = store_host_delete(rq->srv->cfg.store, rq->params[0], gen, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	rs->status = 204;
	return 0;
}

/* A guest as its host gets it: with "image_source", the source of the
 * registered image its spec names, which the host boots. */
static json_object *assignment_json(struct store *st, const struct store_guest *g)
{
	json_object *o = api_guest_json(g), *spec = NULL;
	struct store_image im;
	struct pvm_err err = {0};
	const char *ref;

	if (json_object_object_get_ex(o, "spec", &spec) &&
	    pvm_json_get_str(spec, "image", &ref) == 0 && api_image_find(st, ref, &im, &err) == 0) {
		json_object_object_add(o, "image_source", json_object_new_string(im.source));
		store_image_free(&im);
	}
	return o;
}

int api_h_host_assignments(struct api_req *rq, struct api_resp *rs)
{
	struct store *st = rq->srv->cfg.store;
	struct store_list_opts opts = {.host_id = rq->params[0], .limit = STORE_LIST_MAX};
	struct store_host h;
	struct pvm_err err = {0};
	uint64_t since, deadline;
	json_object *items, *ans;
	int64_t last = 0;
	char next[STORE_ID_MAX] = "";
	int ret;

	if (api_host_scope(rq, rs, rq->params[0]) < 0)
		return 0;
	if (api_query_u64(rq, rs, "since", 0, INT64_MAX, &since) < 0 ||
	    api_query_wait(rq, rs, &deadline) < 0)
		return 0;
	ret = store_host_get(st, rq->params[0], &h, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	store_host_free(&h);
	/* Any committed change moves the generation: the host reconciles. */
	api_events_wait(rq->srv, (int64_t)since, deadline);
	ret = store_events_last_seq(st, &last, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	items = json_object_new_array();
	do {
		struct store_guest_list l = {0};

		opts.after = next[0] ? next : NULL;
		ret = store_guest_list(st, &opts, &l, &err);
		if (ret < 0) {
			json_object_put(items);
			return api_store_problem(rs, ret, &err);
		}
		for (size_t i = 0; i < l.n; i++)
			json_object_array_add(items, assignment_json(st, &l.items[i]));
		snprintf(next, sizeof(next), "%s", l.next);
		store_guest_list_free(&l);
	} while (next[0]);
	ans = json_object_new_object();
	json_object_object_add(ans, "generation", json_object_new_int64(last));
	json_object_object_add(ans, "guests", items);
	api_json(rs, 200, ans);
	return 0;
}
