/* SPDX-License-Identifier: MIT */
/*
 * Turns a VMM's statistics (the control socket's "stats", hv/hv.h) and its
 * agent session ("agent") into the controller's report shapes: hook_stats,
 * negotiated capabilities, exits and agent (POST /v1/guests/{id}/reports).
 */
#include <errno.h>
#include <string.h>

#include "daemon/host.h"
#include "hv/hv.h"

/* What the controller accepts in a relayed map (api/relay.c). */
#define RELAY_NAME_MAX 63
#define RELAY_MAP_MAX  32

static int64_t get_i64(json_object *o, const char *name)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

static json_object *hook_stat(const char *name, json_object *h, json_object *avoided)
{
	json_object *o = json_object_new_object(), *hist = json_object_new_object(), *v;

	json_object_object_add(o, "hook", json_object_new_string(name));
	json_object_object_add(o, "calls", json_object_new_int64(get_i64(h, "calls")));
	json_object_object_add(o, "doorbells", json_object_new_int64(get_i64(h, "doorbells")));
	json_object_object_add(o, "bytes", json_object_new_int64(get_i64(h, "bytes")));
	json_object_object_add(o, "errors", json_object_new_int64(get_i64(h, "errors")));
	json_object_object_add(o, "exits_avoided", json_object_new_int64(get_i64(avoided, name)));
	json_object_object_add(hist, "service_ns_total",
			       json_object_new_int64(get_i64(h, "service_ns_total")));
	if (json_object_object_get_ex(h, "service_ns_log2", &v) &&
	    json_object_is_type(v, json_type_array))
		json_object_object_add(hist, "service_ns_log2", json_object_get(v));
	json_object_object_add(o, "histogram", hist);
	return o;
}

static bool in_array(json_object *arr, const char *s)
{
	size_t n =
	    arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		const char *e = json_object_get_string(json_object_array_get_idx(arr, i));

		if (e && strcmp(e, s) == 0)
			return true;
	}
	return false;
}

int pvmd_report_from_stats(json_object *stats, json_object **hook_stats, json_object **caps,
			   struct pvm_err *err)
{
	json_object *hooks = NULL, *avoided = NULL, *cap = NULL, *offered = NULL, *neg = NULL;
	json_object *hs, *cs;
	int64_t abi;

	if (!stats || !json_object_object_get_ex(stats, "hooks", &hooks) ||
	    !json_object_is_type(hooks, json_type_object))
		return pvm_err_set(err, -EPROTO, "VMM statistics without hooks");
	json_object_object_get_ex(stats, "exits_avoided", &avoided);
	hs = json_object_new_array();
	cs = json_object_new_array();
	json_object_object_foreach(hooks, name, h)
	{
		/* A hook the guest never negotiated nor called has nothing to say. */
		json_object *negotiated = NULL;

		json_object_object_get_ex(h, "negotiated", &negotiated);
		if (json_object_get_boolean(negotiated) || get_i64(h, "calls") > 0)
			json_object_array_add(hs, hook_stat(name, h, avoided));
	}
	/* Capabilities exist once the guest negotiated: emulated guests have none. */
	json_object_object_get_ex(stats, "capabilities", &cap);
	abi = get_i64(cap, "guest_abi_version");
	if (cap && abi > 0) {
		json_object_object_get_ex(cap, "offered", &offered);
		json_object_object_get_ex(cap, "negotiated", &neg);
		for (size_t i = 0; offered && i < json_object_array_length(offered); i++) {
			const char *name =
			    json_object_get_string(json_object_array_get_idx(offered, i));
			json_object *c = json_object_new_object();
			bool ok = in_array(neg, name);

			json_object_object_add(c, "name", json_object_new_string(name));
			json_object_object_add(c, "state",
					       json_object_new_string(ok ? "accepted" : "refused"));
			json_object_object_add(c, "abi_version", json_object_new_int64(abi));
			if (!ok)
				json_object_object_add(
				    c, "reason",
				    json_object_new_string("not accepted by the guest"));
			json_object_array_add(cs, c);
		}
	}
	*hook_stats = hs;
	*caps = cs;
	return 0;
}

json_object *pvmd_report_exits(json_object *stats)
{
	json_object *ex = NULL, *o;

	if (!stats || !json_object_object_get_ex(stats, "exits", &ex) ||
	    !json_object_is_type(ex, json_type_object))
		return NULL;
	o = json_object_new_object();
	json_object_object_foreach(ex, reason, v)
	{
		if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0)
			json_object_object_add(o, reason,
					       json_object_new_int64(json_object_get_int64(v)));
	}
	return o;
}

/* Copies the named members of from that are present into to. */
static void copy_members(json_object *to, json_object *from, const char *const *names, size_t n)
{
	json_object *v;

	for (size_t i = 0; i < n; i++)
		if (json_object_object_get_ex(from, names[i], &v) && v)
			json_object_object_add(to, names[i], json_object_get(v));
}

/* The controller's rule for relayed names; what the guest named otherwise is
 * dropped here, so one odd counter cannot get the whole report refused. */
static bool name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > RELAY_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Up to RELAY_MAP_MAX well-named entries of a guest-named map. */
static json_object *relay_map(json_object *from, bool hooks)
{
	static const char *const per_hook[] = {"calls", "cycles", "bytes", "errors"};
	json_object *out = json_object_new_object();
	size_t n = 0;

	if (!json_object_is_type(from, json_type_object))
		return out;
	json_object_object_foreach(from, name, v)
	{
		if (n == RELAY_MAP_MAX || !name_ok(name))
			continue;
		if (hooks && json_object_is_type(v, json_type_object)) {
			json_object *e = json_object_new_object();

			copy_members(e, v, per_hook, PVM_ARRAY_SIZE(per_hook));
			json_object_object_add(out, name, e);
			n++;
		} else if (!hooks && json_object_is_type(v, json_type_int)) {
			json_object_object_add(out, name, json_object_get(v));
			n++;
		}
	}
	return out;
}

static json_object *relay_report(json_object *rep)
{
	static const char *const keep[] = {"report_no", "interval_ms"};
	json_object *o = json_object_new_object(), *v = NULL;

	copy_members(o, rep, keep, PVM_ARRAY_SIZE(keep));
	json_object_object_get_ex(rep, "hooks", &v);
	json_object_object_add(o, "hooks", relay_map(v, true));
	v = NULL;
	json_object_object_get_ex(rep, "counters", &v);
	json_object_object_add(o, "counters", relay_map(v, false));
	return o;
}

json_object *pvmd_report_agent(json_object *agent)
{
	static const char *const hello_keep[] = {"agent_version", "protocol_min", "protocol_max",
						 "guest_kind",	  "os",		  "boot_id"};
	static const char *const neg_keep[] = {"status",   "pv_abi_version", "offered",
					       "accepted", "refused",	     "kvm"};
	json_object *hello = NULL, *neg = NULL, *rep = NULL, *o, *x, *st = NULL;
	bool stale = false;

	if (!agent || !json_object_object_get_ex(agent, "hello", &hello) ||
	    !json_object_is_type(hello, json_type_object))
		return NULL;
	o = json_object_new_object();
	json_object_object_get_ex(agent, "state", &st);
	json_object_object_add(o, "state", json_object_get(st));
	json_object_object_get_ex(agent, "report", &rep);
	if (rep)
		pvm_json_get_bool(rep, "stale", &stale);
	json_object_object_add(o, "stale", json_object_new_boolean(stale));
	x = json_object_new_object();
	copy_members(x, hello, hello_keep, PVM_ARRAY_SIZE(hello_keep));
	json_object_object_add(o, "hello", x);
	if (json_object_object_get_ex(agent, "negotiation", &neg) &&
	    json_object_is_type(neg, json_type_object)) {
		x = json_object_new_object();
		copy_members(x, neg, neg_keep, PVM_ARRAY_SIZE(neg_keep));
		json_object_object_add(o, "negotiation", x);
	}
	if (rep && json_object_is_type(rep, json_type_object))
		json_object_object_add(o, "report", relay_report(rep));
	return o;
}

json_object *pvmd_report_platform(json_object *stats)
{
	enum hv_platform_id id;
	const char *name;

	if (pvm_json_get_str(stats, "platform", &name) < 0 ||
	    hv_platform_parse(name, &id, NULL) < 0 || id == HV_PLATFORM_AUTO)
		return NULL;
	return json_object_new_string(hv_platform_name(id));
}
