// SPDX-License-Identifier: MIT
/* The power-off port: a 32-bit write ends the run with the guest's exit code. */
#include <string.h>

#include "hv/vm.h"

#define HV_GUEST_CODE_MAX 63

static void power_io(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
		     uint32_t size, uint32_t count)
{
	uint32_t code;

	(void)dev;
	(void)port;
	if (!out) {
		memset(data, 0xff, (size_t)size * count);
		return;
	}
	if (size != 4)
		return;
	memcpy(&code, data, 4);
	/* codes above 63 would collide with the VMM's own (HV_EXIT_*) */
	if (code > HV_GUEST_CODE_MAX)
		hv_vm_end(vm, HV_GUEST_CODE_MAX, "guest powered off with code %u (reported as %d)",
			  code, HV_GUEST_CODE_MAX);
	else
		hv_vm_end(vm, (int)code, "guest powered off with code %u", code);
}

int hv_power_init(struct hv_vm *vm)
{
	return hv_bus_register(&vm->bus, PV_PORT_POWEROFF, 4, HV_IODEV_POWER, power_io, NULL);
}
