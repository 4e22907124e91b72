// SPDX-License-Identifier: MIT
/* CMOS RTC (index 0x70, data 0x71): wall-clock date and time in binary, 24-hour mode. */
#include <string.h>
#include <time.h>

#include "hv/vm.h"

static uint8_t cmos_reg(uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (idx) {
	case 0x00:
		return (uint8_t)tm.tm_sec;
	case 0x02:
		return (uint8_t)tm.tm_min;
	case 0x04:
		return (uint8_t)tm.tm_hour;
	case 0x06:
		return (uint8_t)(tm.tm_wday + 1);
	case 0x07:
		return (uint8_t)tm.tm_mday;
	case 0x08:
		return (uint8_t)(tm.tm_mon + 1);
	case 0x09:
		return (uint8_t)(tm.tm_year % 100);
	case 0x32:
		return (uint8_t)(19 + tm.tm_year / 100);
	case 0x0a:
		return 0x26; /* no update in progress */
	case 0x0b:
		return 0x06; /* binary, 24-hour */
	case 0x0d:
		return 0x80; /* RTC power good */
	default:
		return 0;
	}
}

static void cmos_io(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
		    uint32_t size, uint32_t count)
{
	struct hv_cmos *c = dev;

	(void)vm;
	if (out) {
		if (port == PV_PORT_CMOS_IDX)
			c->index = data[(count - 1) * size] & 0x7f;
		return;
	}
	memset(data, 0, (size_t)size * count);
	for (uint32_t i = 0; i < count; i++)
		data[i * size] = port == PV_PORT_CMOS_DATA ? cmos_reg(c->index) : c->index;
}

int hv_cmos_init(struct hv_vm *vm)
{
	return hv_bus_register(&vm->bus, PV_PORT_CMOS_IDX, 2, HV_IODEV_CMOS, cmos_io, &vm->cmos);
}
