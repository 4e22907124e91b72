/* SPDX-License-Identifier: MIT */
/* The guest spec: its schema and the checks a schema table cannot express. */
#include <errno.h>
#include <string.h>

#include "api/internal.h"
#include "hv/pv_abi.h"
#include "schedulers/sched.h"
#include "store/store.h"

const struct pvm_json_field api_spec_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = SCHED_ID_MAX - 1},
    {.name = "image", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 1023},
    {.name = "kind", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
    {.name = "platform", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
    {.name = "vcpus", .type = PVM_JSON_INT, .required = true, .min = 1, .max = PVM_GUEST_VCPUS_MAX},
    {.name = "memory_mib",
     .type = PVM_JSON_INT,
     .required = true,
     .min = 1,
     .max = PVM_GUEST_MEMORY_MIB_MAX},
    {.name = "disk_gib", .type = PVM_JSON_INT, .max = PVM_GUEST_DISK_GIB_MAX},
    {.name = "cmdline", .type = PVM_JSON_STRING, .max_len = 4095},
    {.name = "pv", .type = PVM_JSON_OBJECT},
    {.name = "labels", .type = PVM_JSON_OBJECT},
    {.name = "selector", .type = PVM_JSON_STRING, .max_len = 1023},
    {.name = "anti_affinity", .type = PVM_JSON_STRING, .max_len = SCHED_ID_MAX - 1},
    {.name = "restart_policy", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
    {.name = "desired_state", .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32},
};
const size_t api_nspec_fields = PVM_ARRAY_SIZE(api_spec_fields);

static const struct pvm_json_field pv_fields[] = {
    {.name = "hooks_required", .type = PVM_JSON_ARRAY, .max_len = PV_HOOK_COUNT},
    {.name = "hooks_preferred", .type = PVM_JSON_ARRAY, .max_len = PV_HOOK_COUNT},
    {.name = "abi_version", .type = PVM_JSON_INT, .min = 1, .max = 31},
    {.name = "needs_emulation", .type = PVM_JSON_BOOL},
    {.name = "kvm_features", .type = PVM_JSON_ARRAY, .max_len = 32},
};

static int check_enum(json_object *spec, const char *name, int (*parse)(const char *, void *),
		      const char *allowed, struct pvm_err *err)
{
	char ptr[64];
	const char *s;
	int v;

	if (pvm_json_get_str(spec, name, &s) < 0)
		return 0;
	if (parse(s, &v) == 0)
		return 0;
	snprintf(ptr, sizeof(ptr), "/%s", name);
	return pvm_err_field(err, -EINVAL, ptr, "field %s must be one of %s", ptr, allowed);
}

static int parse_kind(const char *s, void *out)
{
	return store_guest_kind_parse(s, out);
}

static int parse_restart(const char *s, void *out)
{
	return store_restart_policy_parse(s, out);
}

static int parse_desired(const char *s, void *out)
{
	return store_desired_state_parse(s, out);
}

static int parse_platform(const char *s, void *out)
{
	int id = pvm_platform_id(s);

	if (id < 0)
		return id;
	*(int *)out = id;
	return 0;
}

static bool is_name(const char *s)
{
	size_t n = strlen(s);

	return n &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int api_spec_check(json_object *spec, struct pvm_err *err)
{
	json_object *pv = NULL, *v = NULL;
	struct sched_selector_term terms[SCHED_SELECTOR_MAX];
	char platforms[64];
	unsigned nterms;
	const char *s;
	int ret;

	pvm_json_get_str(spec, "name", &s);
	if (!is_name(s))
		return pvm_err_field(err, -EINVAL, "/name",
				     "names are letters, digits, '.', '_' and '-'");
	if ((ret = check_enum(spec, "kind", parse_kind, "microguest, linux, libvirt", err)) < 0 ||
	    (ret = check_enum(spec, "restart_policy", parse_restart, "never, on-failure, always",
			      err)) < 0 ||
	    (ret = check_enum(spec, "desired_state", parse_desired, "running, stopped", err)) < 0)
		return ret;
	pvm_platform_format(PVM_PLATFORMS_ALL, platforms, sizeof(platforms));
	ret = check_enum(spec, "platform", parse_platform, platforms, err);
	if (ret < 0)
		return ret;
	if (json_object_object_get_ex(spec, "pv", &pv) && pv) {
		ret = pvm_json_check(pv, "/pv", pv_fields, PVM_ARRAY_SIZE(pv_fields), err);
		if (ret < 0)
			return ret;
		json_object_object_get_ex(pv, "hooks_required", &v);
		ret = api_check_str_array(v, "/pv/hooks_required", 32, api_hook_known, err);
		if (ret < 0)
			return ret;
		v = NULL;
		json_object_object_get_ex(pv, "hooks_preferred", &v);
		ret = api_check_str_array(v, "/pv/hooks_preferred", 32, api_hook_known, err);
		if (ret < 0)
			return ret;
		v = NULL;
		json_object_object_get_ex(pv, "kvm_features", &v);
		ret = api_check_str_array(v, "/pv/kvm_features", 32, api_kvm_feature_known, err);
		if (ret < 0)
			return ret;
	}
	v = NULL;
	json_object_object_get_ex(spec, "labels", &v);
	ret = api_check_labels(v, "/labels", err);
	if (ret < 0)
		return ret;
	if (pvm_json_get_str(spec, "anti_affinity", &s) == 0 && *s && !is_name(s))
		return pvm_err_field(err, -EINVAL, "/anti_affinity",
				     "groups are letters, digits, '.', '_' and '-'");
	/* The command line reaches the guest's boot-info page as it is: printable
	 * ASCII only, as a kernel command line. */
	if (pvm_json_get_str(spec, "cmdline", &s) == 0) {
		for (const char *c = s; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				return pvm_err_field(err, -EINVAL, "/cmdline",
						     "the command line takes printable ASCII only");
	}
	if (pvm_json_get_str(spec, "selector", &s) == 0 && *s) {
		ret = sched_selector_parse(s, terms, SCHED_SELECTOR_MAX, &nterms, err);
		if (ret < 0) {
			snprintf(err->field, sizeof(err->field), "/selector");
			return ret;
		}
	}
	return 0;
}
