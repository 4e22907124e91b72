/* SPDX-License-Identifier: MIT */
/*
 * Turns a VMM's statistics (the control socket's "stats", hv/hv.h) into the
 * controller's report shapes: hook_stats and negotiated capabilities
 * (POST /v1/guests/{id}/reports).
 */
#include <errno.h>
#include <string.h>

#include "daemon/host.h"

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
