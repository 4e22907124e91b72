/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the hook service (hv/pv*.c, the I/O bus and its
 * emulated twins) over plain memory, without a vCPU: what a hostile guest
 * controls is its RAM and the port accesses it makes, so the input is both.
 *
 *   [n] [n ops of 9 bytes: kind, a (u32), b (u32)] [RAM image]
 *
 * The RAM image is copied to PV_IMAGE_MIN (hook page, rings, descriptors,
 * buffers); the ops run in order: negotiate, ring a doorbell, poke guest
 * RAM between doorbells (as a racing vCPU would), any port access, agent
 * requests from the host side, the statistics and capability documents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tests/fuzz/fake_vm.h"

#define RAM_WINDOW (256u << 10) /* guest RAM above PV_IMAGE_MIN */
#define MEM	   (PV_IMAGE_MIN + RAM_WINDOW)
#define MAX_OPS	   32

enum op {
	OP_NEGOTIATE, /* outl(PV_PORT_NEGOTIATE, a) */
	OP_DOORBELL,  /* outl(PV_PORT_DOORBELL, a) */
	OP_POKE,      /* the u32 b at PV_IMAGE_MIN + a */
	OP_PORT,      /* port a & 0xffff, out if a bit 16, size b & 7, count (b >> 8) & 3 */
	OP_AGENT,     /* hv_agent_request(a % 4, b), then the agent's state */
	OP_PUMP,      /* the I/O thread's wake-up: session output to the rx ring */
	OP_JSON,      /* stats and capabilities documents */
	OP_COUNT
};

static void port(struct hv_vm *vm, uint32_t a, uint32_t b)
{
	uint32_t size = b & 7, count = ((b >> 8) & 3) + 1;
	uint8_t data[32] = {0};

	if (size == 0 || size == 3 || size > 4)
		size = 1 << (size & 1); /* 1, 2 or 4 as the CPU does */
	memcpy(data, &b, sizeof(b));
	hv_bus_io(vm, (uint16_t)a, a & 0x10000, data, size, count);
}

static void run(struct hv_vm *vm, uint8_t kind, uint32_t a, uint32_t b)
{
	json_object *j;

	switch (kind % OP_COUNT) {
	case OP_NEGOTIATE:
		hv_bus_io(vm, PV_PORT_NEGOTIATE, true, (uint8_t *)&a, 4, 1);
		break;
	case OP_DOORBELL:
		hv_bus_io(vm, PV_PORT_DOORBELL, true, (uint8_t *)&a, 4, 1);
		break;
	case OP_POKE:
		memcpy(vm->mem + PV_IMAGE_MIN + (a % (RAM_WINDOW - 3)), &b, 4);
		break;
	case OP_PORT:
		port(vm, a, b);
		break;
	case OP_AGENT:
		hv_agent_request(vm, (enum hv_agent_req)(a % 4), b);
		j = hv_agent_json(vm);
		json_object_to_json_string(j);
		json_object_put(j);
		break;
	case OP_PUMP:
		pthread_mutex_lock(&vm->pv.lock);
		hv_agent_pump(vm);
		pthread_mutex_unlock(&vm->pv.lock);
		break;
	case OP_JSON:
		for (int i = 0; i < 2; i++) {
			const char *text;

			j = i ? hv_caps_json(vm) : hv_stats_json(vm);
			text = json_object_to_json_string(j);
			if (getenv("PVM_FUZZ_VERBOSE")) /* to see what seeds reach */
				fprintf(stderr, "fuzz_hooks: %s\n", text);
			json_object_put(j);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hv_vm *vm;
	uint32_t zero = 0;
	size_t nops, ram;

	if (!vm)
		vm = fuzz_vm_new(MEM, true, 64);
	if (size < 1)
		return 0;
	nops = data[0] % (MAX_OPS + 1);
	if (size < 1 + nops * 9)
		return 0;
	ram = size - 1 - nops * 9;
	if (ram > RAM_WINDOW)
		ram = RAM_WINDOW;
	memset(vm->mem + PV_IMAGE_MIN, 0, RAM_WINDOW);
	memcpy(vm->mem + PV_IMAGE_MIN, data + 1 + nops * 9, ram);
	for (size_t i = 0; i < nops; i++) {
		const uint8_t *op = data + 1 + i * 9;
		uint32_t a, b;

		memcpy(&a, op + 1, 4);
		memcpy(&b, op + 5, 4);
		run(vm, op[0], a, b);
	}
	/* the next input meets a VM that never negotiated and has no session */
	hv_bus_io(vm, PV_PORT_NEGOTIATE, true, (uint8_t *)&zero, 4, 1);
	pthread_mutex_lock(&vm->pv.lock);
	hv_agent_free(vm);
	vm->pv.agent_qlen = 0;
	pthread_mutex_unlock(&vm->pv.lock);
	return 0;
}
