/* SPDX-License-Identifier: MIT */
/*
 * The compute workload's loop, shared with bench/hooks so the guest and the
 * native baseline run the very same code. *x carries the generator state
 * across calls, so the work is the same however it is chunked.
 */
#ifndef PVM_GUEST_COMPUTE_LOOP_H
#define PVM_GUEST_COMPUTE_LOOP_H

#include <stdint.h>

#define GUEST_COMPUTE_SEED  88172645463325252ull
#define GUEST_COMPUTE_CHUNK 1000000ull

static inline uint64_t guest_compute_loop(uint64_t *x, uint64_t iters)
{
	uint64_t v = *x, acc = 0;

	for (uint64_t i = 0; i < iters; i++) {
		v ^= v << 13;
		v ^= v >> 7;
		v ^= v << 17;
		acc += v >> 3;
		__asm__ volatile("" : "+r"(acc));
	}
	*x = v;
	return acc;
}

#endif /* PVM_GUEST_COMPUTE_LOOP_H */
