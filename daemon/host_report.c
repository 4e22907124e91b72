/* SPDX-License-Identifier: MIT */
/*
 * What a host relays in POST /v1/guests/{id}/reports: the statistics report
 * its VMM's "stats" carry (common.h's struct pvm_report, checked here by the
 * controller's rules) and the agent session ("agent") cut to the
 * controller's shape.
 */
#include <errno.h>
#include <string.h>

#include "daemon/host.h"

int pvmd_report_from_stats(json_object *stats, struct pvm_report *out, struct pvm_err *err)
{
	json_object *rep = NULL;

	if (!stats || !json_object_object_get_ex(stats, "report", &rep) || !rep)
		return pvm_err_set(err, -ENOENT, "statistics without a report");
	return pvm_report_decode(rep, "/report", NULL, 0, out, err);
}

/* Copies the named members of from that are present into to. */
static void copy_members(json_object *to, json_object *from, const char *const *names, size_t n)
{
	json_object *v;

	for (size_t i = 0; i < n; i++)
		if (json_object_object_get_ex(from, names[i], &v) && v)
			json_object_object_add(to, names[i], json_object_get(v));
}

/* Up to PVM_REPORT_MAP_MAX entries of a guest-named map whose names pass the
 * controller's rule; what the guest named otherwise is dropped here, so one
 * odd counter cannot get the whole report refused. */
static json_object *relay_map(json_object *from, bool hooks)
{
	static const char *const per_hook[] = {"calls", "cycles", "bytes", "errors"};
	json_object *out = json_object_new_object();
	size_t n = 0;

	if (!json_object_is_type(from, json_type_object))
		return out;
	json_object_object_foreach(from, name, v)
	{
		if (n == PVM_REPORT_MAP_MAX || !pvm_report_name_ok(name))
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
	static const char *const neg_keep[] = {
	    "status", "pv_abi_version", "offered", "accepted", "refused", "kvm", "virtio_devices"};
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
