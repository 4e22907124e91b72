// SPDX-License-Identifier: MIT
/* 8250 UART at COM1, transmit only: one exit per byte, the console's emulated twin. */
#include "hv/vm.h"

#define UART_THR 0 /* DLAB=0: transmit holding / receive buffer */
#define UART_IER 1
#define UART_IIR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7
#define LCR_DLAB 0x80
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

static void uart_io(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
		    uint32_t size, uint32_t count)
{
	struct hv_uart *u = dev;
	unsigned int reg = port - PV_PORT_COM1;
	bool dlab = u->lcr & LCR_DLAB;

	if (out) {
		if (reg == UART_THR && !dlab) {
			/* only the low byte of each item reaches the line */
			for (uint32_t i = 0; i < count; i++)
				hv_console_write(vm, &data[i * size], 1);
			HV_STAT_ADD(vm->stats.emu_console_bytes, count);
			return;
		}
		uint8_t v = data[(count - 1) * size];

		switch (reg) {
		case UART_THR:
			u->dll = v;
			break;
		case UART_IER:
			if (dlab)
				u->dlm = v;
			else
				u->ier = v & 0x0f;
			break;
		case UART_LCR:
			u->lcr = v;
			break;
		case UART_MCR:
			u->mcr = v & 0x1f;
			break;
		case UART_SCR:
			u->scr = v;
			break;
		default:
			break;
		}
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint8_t v = 0;

		switch (reg) {
		case UART_THR:
			v = dlab ? u->dll : 0;
			break;
		case UART_IER:
			v = dlab ? u->dlm : u->ier;
			break;
		case UART_IIR:
			v = 0x01; /* no interrupt pending */
			break;
		case UART_LCR:
			v = u->lcr;
			break;
		case UART_MCR:
			v = u->mcr;
			break;
		case UART_LSR:
			v = LSR_THRE | LSR_TEMT; /* always ready, never any input */
			break;
		case UART_MSR:
			v = 0xb0;
			break;
		case UART_SCR:
			v = u->scr;
			break;
		}
		for (uint32_t b = 0; b < size; b++)
			data[i * size + b] = b ? 0 : v;
	}
}

int hv_uart_init(struct hv_vm *vm)
{
	return hv_bus_register(&vm->bus, PV_PORT_COM1, 8, HV_IODEV_UART, uart_io, &vm->uart);
}
