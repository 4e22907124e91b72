/* SPDX-License-Identifier: MIT */
/* Monotonic time: every duration in pvm is measured on CLOCK_MONOTONIC. */
#include <errno.h>
#include <time.h>

#include "common/common.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t pvm_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t pvm_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void pvm_sleep_ns(uint64_t ns)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(ns / 1000000000ull),
	    .tv_nsec = (long)(ns % 1000000000ull),
	};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
