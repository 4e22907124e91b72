/* SPDX-License-Identifier: MIT */
/* The guest spec: its schema and the checks a schema table cannot express. */
#include <errno.h>
#include <string.h>

#include "api/internal.h"
#include "hv/pv_abi.h"
#include "schedulers/sched.h"
#include "store/store.h"

static const struct pvm_json_field hook_name = {
    .type = PVM_JSON_STRING, .min_len = 1, .max_len = 32, .name_of = pv_hook_name};
static const struct pvm_json_field kvm_feature = {
    .type = PVM_JSON_STRING,
    .min_len = 1,
    .max_len = 32,
    .doc = "a KVM pv feature, by the kernel's name (kvm-clock, steal-time, ...)"};

static const struct pvm_json_field pv_fields[] = {
    {.name = "hooks_required",
     .type = PVM_JSON_ARRAY,
     .max_len = PV_HOOK_COUNT,
     .item = &hook_name,
     .doc = "hooks a host must offer (filter pv)"},
    {.name = "hooks_preferred",
     .type = PVM_JSON_ARRAY,
     .max_len = PV_HOOK_COUNT,
     .item = &hook_name,
     .doc = "hooks that raise a host's score"},
    {.name = "abi_version", .type = PVM_JSON_INT, .min = 1, .max = 31},
    {.name = "needs_emulation", .type = PVM_JSON_BOOL},
    {.name = "kvm_features", .type = PVM_JSON_ARRAY, .max_len = 32, .item = &kvm_feature},
};

const struct pvm_json_field api_spec_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = SCHED_ID_MAX - 1,
     .name_chars = true},
    {.name = "image",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = 1023,
     .doc = "a registered image's id or name (the host boots its source), else a name the host "
	    "finds in its image directory, or a path"},
    {.name = "kind",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 32,
     .name_of = store_guest_kind_nth},
    {.name = "platform",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 32,
     .name_of = pvm_platform_name,
     .doc = "the hv platform the guest must run on; absent: any. Only hosts offering it take "
	    "the guest (filter pv); the guest's top-level platform is the one its host runs it "
	    "on"},
    {.name = "vcpus", .type = PVM_JSON_INT, .required = true, .min = 1, .max = PVM_GUEST_VCPUS_MAX},
    {.name = "memory_mib",
     .type = PVM_JSON_INT,
     .required = true,
     .min = 1,
     .max = PVM_GUEST_MEMORY_MIB_MAX},
    {.name = "disk_gib", .type = PVM_JSON_INT, .max = PVM_GUEST_DISK_GIB_MAX},
    {.name = "cmdline",
     .type = PVM_JSON_STRING,
     .max_len = 4095,
     .doc = "the guest's command line: printable ASCII"},
    {.name = "pv",
     .type = PVM_JSON_OBJECT,
     .fields = pv_fields,
     .nfields = PVM_ARRAY_SIZE(pv_fields)},
    {.name = "labels",
     .type = PVM_JSON_OBJECT,
     .doc = "at most 16; keys 1..63 of [a-z0-9._/-], string values of at most 63 bytes"},
    {.name = "selector",
     .type = PVM_JSON_STRING,
     .max_len = 1023,
     .doc = "host labels it needs: key=value, key!=value, key in (a,b), comma-separated"},
    {.name = "anti_affinity",
     .type = PVM_JSON_STRING,
     .max_len = SCHED_ID_MAX - 1,
     .name_chars = true,
     .doc = "a group: no two guests of one group on one host"},
    {.name = "restart_policy",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 32,
     .name_of = store_restart_policy_nth},
    {.name = "desired_state",
     .type = PVM_JSON_STRING,
     .min_len = 1,
     .max_len = 32,
     .name_of = store_desired_state_nth},
};
const size_t api_nspec_fields = PVM_ARRAY_SIZE(api_spec_fields);

int api_spec_check(json_object *spec, struct pvm_err *err)
{
	json_object *pv = NULL, *v = NULL;
	struct sched_selector_term terms[SCHED_SELECTOR_MAX];
	unsigned nterms;
	const char *s;
	int ret;

	if (json_object_object_get_ex(spec, "pv", &pv) && pv) {
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
