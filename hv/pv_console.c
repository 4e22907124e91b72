// SPDX-License-Identifier: MIT
/* Console hook: each descriptor is a batch of bytes for the console. */
#include "hv/vm.h"

static uint32_t console_desc(struct hv_vm *vm, struct pv_desc *d, uint8_t *buf)
{
	if (d->op != PV_OP_WRITE)
		return PV_ST_BAD_OP;
	hv_console_write(vm, buf, d->len);
	d->done = d->len;
	HV_STAT_ADD(vm->stats.hooks[PV_HOOK_CONSOLE].bytes, d->len);
	return PV_ST_OK;
}

void hv_pv_console_serve(struct hv_vm *vm)
{
	hv_ring_serve(vm, PV_HOOK_CONSOLE, PV_RING_CONSOLE, console_desc);
}
