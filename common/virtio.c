/* SPDX-License-Identifier: MIT */
/*
 * Virtio device types by ID (virtio 1.2, section 5 "Device Types"), the
 * names agents, the API and pvmctl use for the pv devices a guest has.
 */
#include "common/common.h"

static const char *const virtio_device_names[32] = {
    [1] = "net",  [2] = "block",  [3] = "console", [4] = "rng",	   [5] = "balloon", [8] = "scsi",
    [9] = "9p",	  [16] = "gpu",	  [18] = "input",  [19] = "vsock", [20] = "crypto", [23] = "iommu",
    [24] = "mem", [25] = "sound", [26] = "fs",	   [27] = "pmem",
};

const char *pvm_virtio_device_name(unsigned id)
{
	return id < PVM_ARRAY_SIZE(virtio_device_names) ? virtio_device_names[id] : NULL;
}
