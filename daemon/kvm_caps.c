/* SPDX-License-Identifier: MIT */
/* KVM's paravirtual feature bits and the hv platforms, as the host reports them. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "daemon/host.h"
#include "hv/hv.h"

#define KVM_CPUID_FEATURES 0x40000001u

int pvmd_kvm_pv_features(json_object **out, struct pvm_err *err)
{
	struct kvm_cpuid2 *cpuid = NULL;
	json_object *arr;
	uint32_t eax = 0;
	int fd, nent = 64, ret = 0;

	arr = json_object_new_array();
	if (!arr)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		pvm_log_warn("/dev/kvm: %s: no KVM pv features to offer", strerror(errno));
		*out = arr;
		return 0;
	}
	/* The kernel answers E2BIG until the array holds every entry. */
	for (;;) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) + (size_t)nent * sizeof(cpuid->entries[0]));
		if (!cpuid) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		cpuid->nent = (uint32_t)nent;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG || nent >= 4096) {
			ret = pvm_err_set(err, -errno, "KVM_GET_SUPPORTED_CPUID: %s",
					  strerror(errno));
			goto out;
		}
		nent *= 2;
	}
	for (uint32_t i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == KVM_CPUID_FEATURES)
			eax = cpuid->entries[i].eax;
	for (unsigned bit = 0; bit < 32; bit++)
		if ((eax & (1u << bit)) && pvm_kvm_feature_name(bit))
			json_object_array_add(arr,
					      json_object_new_string(pvm_kvm_feature_name(bit)));
out:
	free(cpuid);
	close(fd);
	if (ret < 0) {
		json_object_put(arr);
		return ret;
	}
	*out = arr;
	return 0;
}

int pvmd_host_platforms(const char *platform, json_object **out, struct pvm_err *err)
{
	enum hv_platform_id id = HV_PLATFORM_AUTO;
	json_object *arr;

	if (platform && hv_platform_parse(platform, &id, err) < 0)
		return pvm_err_field(err, -EINVAL, "platform",
				     "platform %.32s: want auto, kvm or process", platform);
	arr = json_object_new_array();
	if (!arr)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	if (id == HV_PLATFORM_AUTO) {
		/* The process platform needs nothing of the host: always offered. */
		if (hv_platform_probe() == HV_PLATFORM_KVM)
			json_object_array_add(
			    arr, json_object_new_string(hv_platform_name(HV_PLATFORM_KVM)));
		json_object_array_add(
		    arr, json_object_new_string(hv_platform_name(HV_PLATFORM_PROCESS)));
	} else {
		if (id == HV_PLATFORM_KVM && hv_platform_probe() != HV_PLATFORM_KVM)
			pvm_log_warn("platform kvm: /dev/kvm does not work here; its guests will "
				     "fail to start");
		json_object_array_add(arr, json_object_new_string(hv_platform_name(id)));
	}
	*out = arr;
	return 0;
}
