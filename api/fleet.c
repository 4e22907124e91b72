/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's in-memory fleet, kept in step with the store: built from
 * it at start, then updated on every host change and every bind/unbind. The
 * store stays the truth; this is what placement decisions read. Every call
 * runs under srv->place_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "schedulers/sched.h"
#include "store/store.h"

bool api_kvm_feature_known(const char *name)
{
	return pvm_kvm_feature_bit(name) >= 0;
}

static uint32_t kvm_bits(json_object *arr)
{
	uint32_t bits = 0;
	size_t n =
	    arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		int b =
		    pvm_kvm_feature_bit(json_object_get_string(json_object_array_get_idx(arr, i)));

		if (b >= 0)
			bits |= 1u << b;
	}
	return bits;
}

static uint32_t hook_bits(json_object *arr, const char *field)
{
	uint32_t bits = 0;
	size_t n =
	    arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v = e;
		int b;

		if (field && !json_object_object_get_ex(e, field, &v))
			continue;
		b = api_hook_bit(json_object_get_string(v) ? json_object_get_string(v) : "");
		if (b >= 0)
			bits |= 1u << b;
	}
	return bits;
}

static void labels_into(const char *text, struct sched_label *labels, unsigned *n)
{
	json_object *o = api_json_text(text);

	*n = 0;
	json_object_object_foreach(o, key, val)
	{
		if (*n >= SCHED_LABELS_MAX)
			break;
		snprintf(labels[*n].key, SCHED_ID_MAX, "%s", key);
		snprintf(labels[*n].value, SCHED_ID_MAX, "%s", json_object_get_string(val));
		(*n)++;
	}
	json_object_put(o);
}

void api_sched_host(const struct store_host *h, struct sched_host *out)
{
	json_object *caps = api_json_text(h->capabilities), *v;

	sched_host_init(out);
	snprintf(out->id, sizeof(out->id), "%s", h->id);
	out->cpus = (uint32_t)(h->cpus > 0 ? h->cpus : 0);
	out->memory_mib = (uint64_t)(h->memory_mib > 0 ? h->memory_mib : 0);
	out->disk_gib = (uint64_t)(h->disk_gib > 0 ? h->disk_gib : 0);
	out->state = h->state == STORE_HOST_READY	  ? SCHED_HOST_READY
		     : h->state == STORE_HOST_UNREACHABLE ? SCHED_HOST_UNREACHABLE
							  : SCHED_HOST_DOWN;
	out->cordoned = h->cordoned;
	out->draining = h->draining;
	labels_into(h->labels, out->labels, &out->nlabels);
	if (json_object_object_get_ex(caps, "hooks", &v))
		out->hooks = hook_bits(v, "name");
	if (json_object_object_get_ex(caps, "abi_versions", &v)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			int64_t ver = json_object_get_int64(json_object_array_get_idx(v, i));

			if (ver >= 1 && ver <= 31)
				out->abi_versions |= 1u << ver;
		}
	} else if (out->hooks) {
		out->abi_versions = 1u << 1;
	}
	if (json_object_object_get_ex(caps, "emulation", &v))
		out->emulated_devices = json_object_get_boolean(v);
	if (json_object_object_get_ex(caps, "kvm_pv_features", &v))
		out->kvm_features = kvm_bits(v);
	/* Validated when the host sent them: only known names are there. */
	if (json_object_object_get_ex(caps, "platforms", &v) &&
	    json_object_is_type(v, json_type_array))
		api_check_platforms(v, "/platforms", &out->platforms, NULL);
	if (json_object_object_get_ex(caps, "drivers", &v)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *d = json_object_get_string(json_object_array_get_idx(v, i));

			if (strcmp(d, "hv") == 0)
				out->kinds |= SCHED_KIND_BIT(SCHED_KIND_MICROGUEST) |
					      SCHED_KIND_BIT(SCHED_KIND_LINUX);
			else if (strcmp(d, "libvirt") == 0)
				out->kinds |= SCHED_KIND_BIT(SCHED_KIND_LIBVIRT) |
					      SCHED_KIND_BIT(SCHED_KIND_LINUX);
		}
	}
	json_object_put(caps);
}

/* The scheduler's view of a guest spec (already validated by the API). */
int api_sched_guest(const char *id, json_object *spec, struct sched_guest *out, struct pvm_err *err)
{
	json_object *pv = NULL, *v;
	const char *s;
	int64_t x;

	sched_guest_init(out);
	snprintf(out->id, sizeof(out->id), "%s", id);
	if (pvm_json_get_int(spec, "vcpus", &x) == 0)
		out->vcpus = (uint32_t)x;
	if (pvm_json_get_int(spec, "memory_mib", &x) == 0)
		out->memory_mib = (uint64_t)x;
	if (pvm_json_get_int(spec, "disk_gib", &x) == 0)
		out->disk_gib = (uint64_t)x;
	if (pvm_json_get_str(spec, "kind", &s) == 0) {
		enum sched_kind k;

		if (sched_kind_parse(s, &k) == 0)
			out->kind = k;
	}
	if (pvm_json_get_str(spec, "platform", &s) == 0 && pvm_platform_id(s) >= 0)
		out->platforms = PVM_PLATFORM_BIT(pvm_platform_id(s));
	if (json_object_object_get_ex(spec, "pv", &pv) && pv) {
		bool b = false;

		if (json_object_object_get_ex(pv, "hooks_required", &v))
			out->hooks_required = hook_bits(v, NULL);
		if (json_object_object_get_ex(pv, "hooks_preferred", &v))
			out->hooks_preferred = hook_bits(v, NULL);
		if (json_object_object_get_ex(pv, "kvm_features", &v))
			out->kvm_features_required = kvm_bits(v);
		if (pvm_json_get_bool(pv, "needs_emulation", &b) == 0)
			out->needs_emulated = b;
		if (pvm_json_get_int(pv, "abi_version", &x) == 0)
			out->abi_version = (uint32_t)x;
	}
	if (!out->abi_version && (out->hooks_required || out->hooks_preferred))
		out->abi_version = 1;
	if (pvm_json_get_str(spec, "anti_affinity", &s) == 0)
		snprintf(out->anti_affinity, sizeof(out->anti_affinity), "%s", s);
	if (pvm_json_get_str(spec, "selector", &s) == 0 && *s) {
		int ret = sched_selector_parse(s, out->selector, SCHED_SELECTOR_MAX,
					       &out->nselector, err);

		if (ret < 0) {
			snprintf(err->field, sizeof(err->field), "/selector");
			return ret;
		}
	}
	return sched_guest_validate(out, err);
}

int api_fleet_host_sync(struct api_server *srv, const struct store_host *h)
{
	struct sched_host sh;
	struct pvm_err err = {0};
	int ret;

	api_sched_host(h, &sh);
	ret = sched_fleet_host_update(srv->fleet, &sh, &err);
	if (ret == -ENOENT)
		ret = sched_fleet_host_add(srv->fleet, &sh, &err);
	/* A host that has not reported any capacity yet cannot take guests: it joins
	 * the fleet with its first heartbeat that does. */
	if (ret < 0)
		pvm_log_debug("api: scheduler refused host %s: %s", h->id, err.msg);
	return ret;
}

int api_fleet_bind(struct api_server *srv, const struct store_guest *g)
{
	struct sched_guest sg;
	struct pvm_err err = {0};
	json_object *spec = api_json_text(g->spec);
	int ret;

	ret = api_sched_guest(g->id, spec, &sg, &err);
	json_object_put(spec);
	if (ret == 0) {
		sched_fleet_unbind(srv->fleet, g->id);
		ret = sched_fleet_bind(srv->fleet, &sg, g->host_id, &err);
	}
	if (ret < 0)
		pvm_log_warn("api: scheduler: bind %s to %s: %s", g->id, g->host_id, err.msg);
	return ret;
}

int api_fleet_load(struct api_server *srv, struct pvm_err *err)
{
	struct store *st = srv->cfg.store;
	char next[STORE_ID_MAX] = "";
	struct sched_policy pol;
	int ret;

	sched_policy_default(&pol);
	if (srv->cfg.sched_policy && *srv->cfg.sched_policy) {
		ret = sched_policy_parse(srv->cfg.sched_policy, &pol, err);
		if (ret < 0)
			return pvm_err_prefix(err, "scheduler policy");
	}
	ret = sched_fleet_new(&pol, &srv->fleet, err);
	if (ret < 0)
		return ret;
	do {
		struct store_list_opts o = {.after = next[0] ? next : NULL,
					    .limit = STORE_LIST_MAX};
		struct store_host_list l = {0};

		ret = store_host_list(st, &o, &l, err);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < l.n; i++)
			api_fleet_host_sync(srv, &l.items[i]);
		snprintf(next, sizeof(next), "%s", l.next);
		store_host_list_free(&l);
	} while (next[0]);
	do {
		struct store_list_opts o = {.after = next[0] ? next : NULL,
					    .limit = STORE_LIST_MAX};
		struct store_guest_list l = {0};

		ret = store_guest_list(st, &o, &l, err);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < l.n; i++)
			if (l.items[i].host_id[0])
				api_fleet_bind(srv, &l.items[i]);
		snprintf(next, sizeof(next), "%s", l.next);
		store_guest_list_free(&l);
	} while (next[0]);
	return 0;
}
