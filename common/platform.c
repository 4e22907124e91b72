/* SPDX-License-Identifier: MIT */
/*
 * The hv platforms by name (common.h): the one table the API, the store and
 * the scheduler read, spelled as pvm-vmm's --platform spells them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static const char *const platform_names[PVM_PLATFORM_COUNT] = {
    [PVM_PLATFORM_KVM] = "kvm",
    [PVM_PLATFORM_PROCESS] = "process",
};

const char *pvm_platform_name(unsigned id)
{
	return id < PVM_PLATFORM_COUNT ? platform_names[id] : NULL;
}

int pvm_platform_id(const char *name)
{
	for (unsigned i = 0; name && i < PVM_PLATFORM_COUNT; i++)
		if (strcmp(platform_names[i], name) == 0)
			return (int)i;
	return -ENOENT;
}

int pvm_platform_format(uint32_t bits, char *buf, size_t len)
{
	size_t need = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < PVM_PLATFORM_COUNT; i++) {
		int n;

		if (!(bits & PVM_PLATFORM_BIT(i)))
			continue;
		n = snprintf(len > need ? buf + need : NULL, len > need ? len - need : 0, "%s%s",
			     need ? "," : "", platform_names[i]);
		need += (size_t)n;
	}
	return (int)need;
}

uint32_t pvm_platform_set(json_object *arr)
{
	uint32_t bits = 0;
	size_t n =
	    arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		int id = pvm_platform_id(json_object_get_string(json_object_array_get_idx(arr, i)));

		if (id >= 0)
			bits |= PVM_PLATFORM_BIT(id);
	}
	return bits;
}
