/* SPDX-License-Identifier: MIT */
/*
 * What a host relays beside the statistics report (common.h) in
 * POST /v1/guests/{id}/reports: the guest agent's state (hello, negotiation,
 * last report, stale flag), checked strictly here, and both answered back in
 * GET /v1/guests/{id}.
 */
#include <errno.h>
#include <string.h>

#include "api/handlers.h"
#include "store/store.h"

#define NAME_MAX_LEN (PVM_REPORT_NAME_MAX - 1)
#define MAP_MAX	     PVM_REPORT_MAP_MAX

/* base + "/" + leaf as a JSON pointer; our pointers are short, a cut one
 * only shortens an error's field. */
static void join(char *out, size_t len, const char *base, const char *leaf)
{
	if ((size_t)snprintf(out, len, "%s/%s", base, leaf) >= len)
		out[len - 1] = '\0';
}

/* ---- the agent's state --------------------------------------------------- */

static const struct pvm_json_field agent_fields[] = {
    {.name = "state", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 16},
    {.name = "stale", .type = PVM_JSON_BOOL, .required = true},
    {.name = "hello", .type = PVM_JSON_OBJECT, .required = true},
    {.name = "negotiation", .type = PVM_JSON_OBJECT, .nullable = true},
    {.name = "report", .type = PVM_JSON_OBJECT, .nullable = true},
};

static const struct pvm_json_field hello_fields[] = {
    {.name = "agent_version",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = 16},
    {.name = "protocol_min", .type = PVM_JSON_INT, .max = 65535},
    {.name = "protocol_max", .type = PVM_JSON_INT, .max = 65535},
    {.name = "guest_kind", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 16},
    {.name = "os", .type = PVM_JSON_STRING, .max_len = 64},
    {.name = "boot_id", .type = PVM_JSON_STRING, .max_len = 40},
};

static const struct pvm_json_field neg_fields[] = {
    {.name = "status", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 16},
    {.name = "pv_abi_version", .type = PVM_JSON_INT, .max = 65535},
    {.name = "offered", .type = PVM_JSON_ARRAY, .max_len = MAP_MAX},
    {.name = "accepted", .type = PVM_JSON_ARRAY, .max_len = MAP_MAX},
    {.name = "refused", .type = PVM_JSON_ARRAY, .max_len = MAP_MAX},
    {.name = "kvm", .type = PVM_JSON_OBJECT},
    {.name = "virtio_devices", .type = PVM_JSON_ARRAY, .max_len = MAP_MAX},
};

/* Linux guests: the KVM pv features the running kernel uses. */
static const struct pvm_json_field kvm_fields[] = {
    {.name = "cpuid_read", .type = PVM_JSON_BOOL},
    {.name = "signature_kvm", .type = PVM_JSON_BOOL},
    {.name = "features", .type = PVM_JSON_INT, .max = UINT32_MAX},
    {.name = "feature_names", .type = PVM_JSON_ARRAY, .max_len = MAP_MAX},
    {.name = "clocksource", .type = PVM_JSON_STRING, .max_len = 32},
    {.name = "kvm_clock_in_use", .type = PVM_JSON_BOOL},
    {.name = "steal_ticks", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "steal_time_nonzero", .type = PVM_JSON_BOOL},
};

static const struct pvm_json_field refusal_fields[] = {
    {.name = "hook",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = NAME_MAX_LEN},
    {.name = "reason", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 32},
};

static const struct pvm_json_field report_fields[] = {
    {.name = "report_no", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "interval_ms", .type = PVM_JSON_INT, .max = 86400000},
    {.name = "hooks", .type = PVM_JSON_OBJECT},
    {.name = "counters", .type = PVM_JSON_OBJECT},
};

static const struct pvm_json_field guest_hook_fields[] = {
    {.name = "calls", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "cycles", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "bytes", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "errors", .type = PVM_JSON_INT, .max = INT64_MAX},
};

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

static int enum_check(json_object *o, const char *name, const char *path, const char *const *set,
		      size_t n, struct pvm_err *err)
{
	const char *s = NULL;

	if (pvm_json_get_str(o, name, &s) == 0 && !one_of(s, set, n))
		return pvm_err_field(err, -EINVAL, path, "unknown %s \"%s\"", name, s);
	return 0;
}

static int guest_hook_check(json_object *v, const char *path, struct pvm_err *err)
{
	return pvm_json_check(v, path, guest_hook_fields, PVM_ARRAY_SIZE(guest_hook_fields), err);
}

static int neg_check(json_object *neg, const char *path, struct pvm_err *err)
{
	static const char *const status[] = {"accepted", "refused", "none"};
	static const char *const lists[] = {"offered", "accepted", "virtio_devices"};
	json_object *arr;
	char p[160];
	int ret;

	ret = pvm_json_check(neg, path, neg_fields, PVM_ARRAY_SIZE(neg_fields), err);
	if (ret == 0) {
		join(p, sizeof(p), path, "status");
		ret = enum_check(neg, "status", p, status, PVM_ARRAY_SIZE(status), err);
	}
	for (size_t i = 0; ret == 0 && i < PVM_ARRAY_SIZE(lists); i++) {
		join(p, sizeof(p), path, lists[i]);
		if (json_object_object_get_ex(neg, lists[i], &arr) && arr)
			ret = api_check_str_array(arr, p, NAME_MAX_LEN, pvm_report_name_ok, err);
	}
	if (ret == 0 && json_object_object_get_ex(neg, "kvm", &arr) && arr) {
		join(p, sizeof(p), path, "kvm");
		ret = pvm_json_check(arr, p, kvm_fields, PVM_ARRAY_SIZE(kvm_fields), err);
		if (ret == 0 && json_object_object_get_ex(arr, "feature_names", &arr) && arr) {
			join(p, sizeof(p), path, "kvm/feature_names");
			ret = api_check_str_array(arr, p, NAME_MAX_LEN, pvm_report_name_ok, err);
		}
	}
	if (ret == 0 && json_object_object_get_ex(neg, "refused", &arr) && arr) {
		for (size_t i = 0; ret == 0 && i < json_object_array_length(arr); i++) {
			char leaf[32];

			snprintf(leaf, sizeof(leaf), "refused/%zu", i);
			join(p, sizeof(p), path, leaf);
			ret = pvm_json_check(json_object_array_get_idx(arr, i), p, refusal_fields,
					     PVM_ARRAY_SIZE(refusal_fields), err);
		}
	}
	return ret;
}

static int report_check(json_object *rep, const char *path, struct pvm_err *err)
{
	json_object *o;
	char p[160];
	int ret;

	ret = pvm_json_check(rep, path, report_fields, PVM_ARRAY_SIZE(report_fields), err);
	if (ret == 0 && json_object_object_get_ex(rep, "hooks", &o) && o) {
		join(p, sizeof(p), path, "hooks");
		ret = pvm_report_map_check(o, p, guest_hook_check, err);
	}
	if (ret == 0 && json_object_object_get_ex(rep, "counters", &o) && o) {
		join(p, sizeof(p), path, "counters");
		ret = pvm_report_map_check(o, p, NULL, err);
	}
	return ret;
}

int api_report_agent_check(json_object *agent, const char *path, struct pvm_err *err)
{
	static const char *const states[] = {"waiting", "connected", "syncing", "gone"};
	static const char *const kinds[] = {"microguest", "linux"};
	json_object *o;
	char p[160];
	int ret;

	ret = pvm_json_check(agent, path, agent_fields, PVM_ARRAY_SIZE(agent_fields), err);
	if (ret == 0) {
		join(p, sizeof(p), path, "state");
		ret = enum_check(agent, "state", p, states, PVM_ARRAY_SIZE(states), err);
	}
	if (ret == 0) {
		json_object_object_get_ex(agent, "hello", &o);
		join(p, sizeof(p), path, "hello");
		ret = pvm_json_check(o, p, hello_fields, PVM_ARRAY_SIZE(hello_fields), err);
		if (ret == 0) {
			join(p, sizeof(p), path, "hello/guest_kind");
			ret = enum_check(o, "guest_kind", p, kinds, PVM_ARRAY_SIZE(kinds), err);
		}
	}
	if (ret == 0 && json_object_object_get_ex(agent, "negotiation", &o) && o) {
		join(p, sizeof(p), path, "negotiation");
		ret = neg_check(o, p, err);
	}
	if (ret == 0 && json_object_object_get_ex(agent, "report", &o) && o) {
		join(p, sizeof(p), path, "report");
		ret = report_check(o, p, err);
	}
	return ret;
}

/* ---- answers ------------------------------------------------------------- */

json_object *api_exits_json(const struct store_exit_count *e, size_t n)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < n; i++)
		json_object_object_add(o, e[i].reason, json_object_new_int64(e[i].count));
	return o;
}

json_object *api_agent_json(const struct store_guest_agent *a)
{
	json_object *o = api_json_text(a->state);

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = json_object_new_object();
	}
	json_object_object_add(o, "stale", json_object_new_boolean(a->stale));
	json_object_object_add(o, "ready_ms", json_object_new_int64(a->hello_ms));
	json_object_object_add(o, "updated_ms", json_object_new_int64(a->updated_ms));
	return o;
}
