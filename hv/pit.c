// SPDX-License-Identifier: MIT
/*
 * PIT (8254) channel 0, read side: a 16-bit down-counter at 1.193182 MHz
 * derived from the host's monotonic clock. The guest latches (0x43 <- 0x00)
 * then reads low and high bytes: three exits per time read, the clock hook's
 * emulated twin. Other channels and modes are accepted and ignored.
 */
#include <string.h>

#include "hv/vm.h"

#define PIT_HZ 1193182ull

static uint16_t pit_count(struct hv_pit *p)
{
	uint64_t ns = pvm_now_ns() - p->start_ns;
	uint64_t ticks = ns / 1000000000ull * PIT_HZ + ns % 1000000000ull * PIT_HZ / 1000000000ull;

	return (uint16_t)(0x10000 - (ticks & 0xffff));
}

static void pit_io(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
		   uint32_t size, uint32_t count)
{
	struct hv_pit *p = dev;

	if (out) {
		uint8_t v = data[(count - 1) * size];

		/* channel 0 counter latch command */
		if (port == PV_PORT_PIT_CMD && (v & 0xc0) == 0 && (v & 0x30) == 0) {
			p->latch = pit_count(p);
			p->latched = true;
			p->hi_next = false;
			HV_STAT_ADD(vm->stats.emu_clock_reads, 1);
		}
		return;
	}
	memset(data, 0, (size_t)size * count);
	if (port != PV_PORT_PIT_CH0) {
		memset(data, 0xff, (size_t)size * count);
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint16_t c = p->latched ? p->latch : pit_count(p);

		data[i * size] = p->hi_next ? (uint8_t)(c >> 8) : (uint8_t)c;
		if (p->hi_next)
			p->latched = false;
		p->hi_next = !p->hi_next;
	}
}

int hv_pit_init(struct hv_vm *vm)
{
	vm->pit.start_ns = pvm_now_ns();
	return hv_bus_register(&vm->bus, PV_PORT_PIT_CH0, 4, HV_IODEV_PIT, pit_io, &vm->pit);
}
