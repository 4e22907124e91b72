// SPDX-License-Identifier: MIT
/*
 * Halt hint: the guest (which cannot execute hlt at CPL3 here) asks to idle
 * for up to halt_us; the vCPU thread sleeps until then, a stop or pause
 * request, bytes queued for the guest's agent channel, or a ring the I/O
 * thread has served (a guest waiting on it halts rather than spins).
 */
#include <time.h>

#include "hv/vm.h"

#define HALT_MAX_US 1000000u

void hv_pv_halt(struct hv_vm *vm)
{
	struct pv_hook_page *hp = hv_gpa(vm, vm->pv.hook_page, sizeof(*hp));
	uint32_t us = hp ? __atomic_load_n(&hp->halt_us, __ATOMIC_RELAXED) : 0;
	struct timespec ts;
	uint64_t wake, wakes;

	HV_STAT_ADD(vm->stats.hooks[PV_HOOK_HALT].calls, 1);
	if (us > HALT_MAX_US)
		us = HALT_MAX_US;
	if (!us || vm->pv.agent_qlen)
		return;
	/* bytes or rings served between this check and the wait below bump halt_wakes */
	wakes = __atomic_load_n(&vm->halt_wakes, __ATOMIC_ACQUIRE);
	/* the pv lock is held by the caller; sleep on the VM's lock instead */
	pthread_mutex_unlock(&vm->pv.lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	wake = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + (uint64_t)us * 1000;
	ts.tv_sec = (time_t)(wake / 1000000000ull);
	ts.tv_nsec = (long)(wake % 1000000000ull);
	pthread_mutex_lock(&vm->lock);
	if (!vm->done && !vm->pause_req && !(vm->boot->host_flags & PV_BOOT_F_STOP) &&
	    vm->halt_wakes == wakes)
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_lock(&vm->pv.lock);
}
