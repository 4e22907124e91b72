/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's fleet as the store has it: built from every host and every
 * bound guest at open, then moved by one event at a time. An event names
 * its subject; the row is read again (the event log says what changed, the
 * row says what it is now), so applying an event twice, or late, is
 * harmless. Every function runs under c->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "controller/internal.h"

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

/* Hook names in an array of strings, or of objects by their member field. */
static uint32_t hook_bits(json_object *arr, const char *field)
{
	uint32_t bits = 0;
	size_t n =
	    arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v = e;
		const char *s;
		int b;

		if (field && !json_object_object_get_ex(e, field, &v))
			continue;
		s = json_object_get_string(v);
		b = s ? pv_hook_bit(s, strlen(s)) : -1;
		if (b >= 0)
			bits |= 1u << b;
	}
	return bits;
}

/* A JSON text column as an object (an empty one when it does not parse). */
static json_object *json_text(const char *text)
{
	json_object *o = text ? json_tokener_parse(text) : NULL;

	return o ? o : json_object_new_object();
}

static void labels_into(const char *text, struct sched_label *labels, unsigned *n)
{
	json_object *o = json_text(text);

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

/*
 * The cost of an exit on the platform the host runs guests on when a spec
 * names none (its VMMs' auto choice: kvm where offered, else process), as
 * its heartbeat measured it; 0 when it reported none.
 */
static double exit_cost_of(json_object *caps, uint32_t platforms)
{
	unsigned p = platforms & PVM_PLATFORM_BIT(PVM_PLATFORM_KVM) ? PVM_PLATFORM_KVM
								    : PVM_PLATFORM_PROCESS;
	json_object *costs, *v;

	if (!json_object_object_get_ex(caps, "exit_cost_ns", &costs) ||
	    !json_object_object_get_ex(costs, pvm_platform_name(p), &v))
		return 0;
	return (double)json_object_get_int64(v);
}

void controller_sched_host(const struct store_host *h, struct sched_host *out)
{
	json_object *caps = json_text(h->capabilities), *v;

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
	if (json_object_object_get_ex(caps, "abi_versions", &v) &&
	    json_object_is_type(v, json_type_array)) {
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
	/* The API let only known names in. */
	if (json_object_object_get_ex(caps, "platforms", &v))
		out->platforms = pvm_platform_set(v);
	out->exit_cost_ns = exit_cost_of(caps, out->platforms);
	if (json_object_object_get_ex(caps, "linux_accel", &v))
		out->linux_tcg = strcmp(json_object_get_string(v), "tcg") == 0;
	/* The kinds the host's drivers run, as the host says (API-checked names). */
	if (json_object_object_get_ex(caps, "kinds", &v) &&
	    json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *k = json_object_get_string(json_object_array_get_idx(v, i));
			enum sched_kind kind;

			if (k && sched_kind_parse(k, &kind) == 0)
				out->kinds |= SCHED_KIND_BIT(kind);
		}
	}
	json_object_put(caps);
}

static int spec_into(const char *id, json_object *spec, struct sched_guest *out,
		     struct pvm_err *err)
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
	return 0;
}

int controller_sched_guest(const char *id, json_object *spec, struct sched_guest *out,
			   struct pvm_err *err)
{
	int ret = spec_into(id, spec, out, err);

	return ret < 0 ? ret : sched_guest_validate(out, err);
}

int controller_guest_of_row(const struct store_guest *g, struct sched_guest *out,
			    struct pvm_err *err)
{
	json_object *spec = json_text(g->spec);
	int ret = spec_into(g->id, spec, out, err);

	json_object_put(spec);
	if (ret < 0)
		return ret;
	/* The row's figures are what the store accounts a bind by. */
	out->vcpus = (uint32_t)(g->vcpus > 0 ? g->vcpus : 0);
	out->memory_mib = (uint64_t)(g->memory_mib > 0 ? g->memory_mib : 0);
	out->disk_gib = (uint64_t)(g->disk_gib > 0 ? g->disk_gib : 0);
	return sched_guest_validate(out, err);
}

static int host_sync(struct controller *c, const struct store_host *h)
{
	struct sched_host sh;
	struct pvm_err err = {0};
	int ret;

	controller_sched_host(h, &sh);
	ret = sched_fleet_host_update(c->fleet, &sh, &err);
	if (ret == -ENOENT)
		ret = sched_fleet_host_add(c->fleet, &sh, &err);
	/* A host that has not reported any capacity yet cannot take guests: it
	 * joins the fleet with its first heartbeat that does. */
	if (ret < 0)
		pvm_log_debug("controller: scheduler refused host %s: %s", h->id, err.msg);
	return ret;
}

int controller_fleet_bind(struct controller *c, const struct store_guest *g)
{
	struct sched_guest sg;
	struct pvm_err err = {0};
	int ret = controller_guest_of_row(g, &sg, &err);

	controller_rates_get(c, g->id, &sg.stats);
	sched_fleet_unbind(c->fleet, g->id);
	if (ret == 0)
		ret = sched_fleet_bind(c->fleet, &sg, g->host_id, &err);
	if (ret < 0)
		pvm_log_warn("controller: scheduler: bind %s to %s: %s", g->id, g->host_id,
			     err.msg);
	return ret;
}

static int load_host(struct controller *c, struct store_host *h, void *arg)
{
	(void)arg;
	host_sync(c, h);
	return 0;
}

static int load_guest(struct controller *c, struct store_guest *g, void *arg)
{
	(void)arg;
	if (g->host_id[0])
		controller_fleet_bind(c, g);
	return 0;
}

int controller_fleet_load(struct controller *c, struct pvm_err *err)
{
	int ret;

	/* Read the sequence first: an event committed while the rows are read is
	 * applied again afterwards, which changes nothing. */
	ret = store_events_last_seq(c->cfg.store, &c->seq, err);
	if (ret == 0)
		ret = controller_each_host(c, load_host, NULL, err);
	if (ret == 0)
		ret = controller_each_guest(c, &(struct store_list_opts){0}, load_guest, NULL, err);
	return ret;
}

static void remember_fresh(struct controller *c, const char *id)
{
	if (c->nfresh == c->capfresh) {
		size_t ncap = c->capfresh ? c->capfresh * 2 : 16;
		char(*p)[STORE_ID_MAX] = realloc(c->fresh, ncap * sizeof(*p));

		/* Without the slot the guest is still placed by the pending pass. */
		if (!p)
			return;
		c->fresh = p;
		c->capfresh = ncap;
	}
	snprintf(c->fresh[c->nfresh++], STORE_ID_MAX, "%s", id);
}

static int apply_host(struct controller *c, const char *id)
{
	struct store_host h;
	int ret = store_host_get(c->cfg.store, id, &h, NULL);

	if (ret == -ENOENT) {
		sched_fleet_host_evict(c->fleet, id);
		sched_fleet_host_remove(c->fleet, id, NULL);
		return 0;
	}
	if (ret < 0)
		return ret;
	host_sync(c, &h);
	store_host_free(&h);
	return 0;
}

static int apply_guest(struct controller *c, const char *id)
{
	struct store_guest g;
	int ret = store_guest_get(c->cfg.store, id, &g, NULL);

	if (ret == -ENOENT) {
		sched_fleet_unbind(c->fleet, id);
		return 0;
	}
	if (ret < 0)
		return ret;
	if (g.host_id[0])
		controller_fleet_bind(c, &g);
	else
		sched_fleet_unbind(c->fleet, id);
	store_guest_free(&g);
	return 0;
}

int controller_fleet_apply(struct controller *c, const struct store_event *ev)
{
	const char *t = ev->type;

	if (!ev->subject[0])
		return 0;
	if (strncmp(t, "host.", 5) == 0) {
		/* Readiness, capacity, draining: any of them may start a pass. */
		c->dirty = true;
		c->hosts_dirty = true;
		return apply_host(c, ev->subject);
	}
	if (strcmp(t, STORE_EV_GUEST_CREATED) == 0)
		remember_fresh(c, ev->subject);
	/* desired_state running again, or capacity given back. */
	if (strcmp(t, STORE_EV_GUEST_UPDATED) == 0 || strcmp(t, STORE_EV_GUEST_UNBOUND) == 0 ||
	    strcmp(t, STORE_EV_GUEST_DELETED) == 0)
		c->dirty = true;
	if (strcmp(t, STORE_EV_GUEST_BOUND) == 0 || strcmp(t, STORE_EV_GUEST_UNBOUND) == 0 ||
	    strcmp(t, STORE_EV_GUEST_DELETED) == 0 || strcmp(t, STORE_EV_GUEST_UPDATED) == 0)
		return apply_guest(c, ev->subject);
	return 0;
}
