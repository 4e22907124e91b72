// SPDX-License-Identifier: MIT
/* vCPUs: the run loop over the platform's exits, dispatch to the bus, fault reports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/vm.h"

static const char *const vector_names[HV_FAULT_VECTORS] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF(9)", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE",    "#CP",
};

const char *hv_vector_name(uint32_t vector)
{
	return vector < HV_FAULT_VECTORS && vector_names[vector] ? vector_names[vector] : "?";
}

bool hv_vector_has_error_code(uint32_t v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

int hv_vcpu_init(struct hv_vm *vm, unsigned int id, struct pvm_err *err)
{
	struct hv_vcpu *cpu = &vm->vcpus[id];

	cpu->vm = vm;
	cpu->id = id;
	return vm->plat->vcpu_init(cpu, err);
}

static void report_fault(struct hv_vcpu *cpu, const struct hv_exit *ex)
{
	const char *name = hv_vector_name(ex->fault.vector);

	HV_STAT_ADD(cpu->vm->stats.exits[HV_EXITK_FAULT], 1);
	hv_vm_end(cpu->vm, HV_EXIT_GUEST_FAULT,
		  "guest fault on vcpu %u: %s (vector %u) at rip 0x%llx, error code 0x%llx, "
		  "cr2 0x%llx, rflags 0x%llx",
		  cpu->id, name, ex->fault.vector, (unsigned long long)ex->fault.rip,
		  (unsigned long long)ex->fault.error_code, (unsigned long long)ex->fault.cr2,
		  (unsigned long long)ex->fault.rflags);
}

/* Parks while paused; returns false once the run is over. */
static bool wait_runnable(struct hv_vm *vm)
{
	bool go;

	pthread_mutex_lock(&vm->lock);
	if (vm->pause_req && !vm->done) {
		vm->vcpus_parked++;
		pthread_cond_broadcast(&vm->cond);
		while (vm->pause_req && !vm->done)
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->vcpus_parked--;
	}
	go = !vm->done;
	pthread_mutex_unlock(&vm->lock);
	return go;
}

static void handle_exit(struct hv_vcpu *cpu, const struct hv_exit *ex)
{
	struct hv_vm *vm = cpu->vm;

	switch (ex->reason) {
	case HV_EXIT_R_IO:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_IO], 1);
		hv_bus_io(vm, ex->io.port, ex->io.out, ex->io.data, ex->io.size, ex->io.count);
		break;
	case HV_EXIT_R_MMIO:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_MMIO], 1);
		hv_bus_mmio(vm, ex->mmio.addr, ex->mmio.write, ex->mmio.data, ex->mmio.len);
		break;
	case HV_EXIT_R_INTR:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_INTR], 1);
		break;
	case HV_EXIT_R_HLT:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_HLT], 1);
		hv_vm_end(vm, HV_EXIT_GUEST_FAULT, "guest halted with interrupts off on vcpu %u",
			  cpu->id);
		break;
	case HV_EXIT_R_FAULT:
		report_fault(cpu, ex);
		break;
	case HV_EXIT_R_SYSCALL:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_SYSCALL], 1);
		hv_vm_end(vm, HV_EXIT_GUEST_FAULT, "guest fault on vcpu %u: %s", cpu->id, ex->msg);
		break;
	case HV_EXIT_R_SHUTDOWN:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_SHUTDOWN], 1);
		hv_vm_end(vm, HV_EXIT_TRIPLE, "%s on vcpu %u", ex->msg, cpu->id);
		break;
	case HV_EXIT_R_EMULATION:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_INTERNAL], 1);
		hv_vm_end(vm, HV_EXIT_EMULATION, "%s on vcpu %u", ex->msg, cpu->id);
		break;
	case HV_EXIT_R_ERROR:
	default:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_OTHER], 1);
		hv_vm_end(vm, HV_EXIT_INTERNAL, "%s on vcpu %u", ex->msg, cpu->id);
		break;
	}
}

__thread struct hv_vcpu *hv_cur_vcpu;

void *hv_vcpu_thread(void *arg)
{
	struct hv_vcpu *cpu = arg;
	struct hv_vm *vm = cpu->vm;
	int ret = 0;

	hv_cur_vcpu = cpu;
	if (vm->plat->vcpu_thread_init)
		ret = vm->plat->vcpu_thread_init(cpu);
	if (!ret && vm->cfg.confine)
		ret = hv_confine_thread(HV_THREAD_VCPU);
	if (ret) {
		hv_vm_end(vm, HV_EXIT_INTERNAL, "%s: vcpu %u: %s", vm->plat->name, cpu->id,
			  strerror(-ret));
		return NULL;
	}
	pthread_mutex_lock(&vm->lock);
	cpu->self = pthread_self();
	cpu->started = true;
	pthread_mutex_unlock(&vm->lock);

	while (wait_runnable(vm)) {
		ret = vm->plat->vcpu_run(cpu, &cpu->exit);
		if (ret) {
			hv_vm_end(vm, HV_EXIT_INTERNAL, "%s: running vcpu %u: %s", vm->plat->name,
				  cpu->id, strerror(-ret));
			break;
		}
		handle_exit(cpu, &cpu->exit);
	}
	return NULL;
}
