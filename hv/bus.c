// SPDX-License-Identifier: MIT
/* The I/O bus, ports and MMIO: devices register a range; the vCPU loop only dispatches. */
#include <errno.h>
#include <string.h>

#include "hv/vm.h"

int hv_bus_register(struct hv_bus *bus, uint16_t base, uint16_t len, enum hv_iodev id, hv_io_fn fn,
		    void *dev)
{
	if (bus->n == HV_BUS_MAX)
		return -ENOSPC;
	for (int i = 0; i < bus->n; i++)
		if (base < bus->r[i].base + bus->r[i].len && bus->r[i].base < base + len)
			return -EEXIST;
	bus->r[bus->n++] = (struct hv_io_range){base, len, id, fn, dev};
	return 0;
}

void hv_bus_io(struct hv_vm *vm, uint16_t port, bool out, uint8_t *data, uint32_t size,
	       uint32_t count)
{
	for (int i = 0; i < vm->bus.n; i++) {
		struct hv_io_range *r = &vm->bus.r[i];

		if (port >= r->base && port < r->base + r->len) {
			HV_STAT_ADD(vm->stats.io_exits[r->id], 1);
			r->fn(vm, r->dev, port, out, data, size, count);
			return;
		}
	}
	/* nobody home: counted, reads float high, never fatal */
	HV_STAT_ADD(vm->stats.io_exits[HV_IODEV_UNKNOWN], 1);
	if (!out)
		memset(data, 0xff, (size_t)size * count);
}

int hv_bus_register_mmio(struct hv_bus *bus, uint64_t base, uint64_t len, hv_mmio_fn fn, void *dev)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	if (bus->nm == HV_MMIO_BUS_MAX)
		return -ENOSPC;
	for (int i = 0; i < bus->nm; i++)
		if (base < bus->m[i].base + bus->m[i].len && bus->m[i].base < base + len)
			return -EEXIST;
	bus->m[bus->nm++] = (struct hv_mmio_range){base, len, fn, dev};
	return 0;
}

void hv_bus_mmio(struct hv_vm *vm, uint64_t addr, bool write, uint8_t *data, uint32_t len)
{
	for (int i = 0; i < vm->bus.nm; i++) {
		struct hv_mmio_range *r = &vm->bus.m[i];

		if (addr >= r->base && addr - r->base < r->len) {
			r->fn(vm, r->dev, addr, write, data, len);
			return;
		}
	}
	/* as with ports: counted, reads float high, writes are dropped; the
	 * unknown-port count includes it, as it did before MMIO had devices */
	HV_STAT_ADD(vm->stats.mmio_unknown, 1);
	HV_STAT_ADD(vm->stats.io_exits[HV_IODEV_UNKNOWN], 1);
	if (!write)
		memset(data, 0xff, len);
}
