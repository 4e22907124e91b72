/* SPDX-License-Identifier: MIT */
/*
 * Which hv platform a test's guests run on. ctest runs every test that runs
 * guests once per platform (pvm_add_check_test PLATFORMS, cmake/pvm.cmake)
 * with PVM_PLATFORM=kvm or process in its environment; pvm-vmm and pvmd read
 * the same variable, so the whole stack under test follows it. A test calls
 * test_platform_require() first, before it allocates anything.
 */
#ifndef PVM_TESTS_PLATFORM_H
#define PVM_TESTS_PLATFORM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/hv.h"

/* "kvm" or "process"; unset means what pvm-vmm's auto picks. */
static inline const char *test_platform(void)
{
	const char *p = getenv("PVM_PLATFORM");

	return p && *p ? p : "auto";
}

/* Exits 77 (ctest's skip) when the platform asked for is not on this machine. */
static inline void test_platform_require(void)
{
	if (strcmp(test_platform(), "kvm") == 0 && hv_platform_probe() != HV_PLATFORM_KVM) {
		printf("SKIP: kvm platform: no usable /dev/kvm on this machine\n");
		exit(77);
	}
}

#endif /* PVM_TESTS_PLATFORM_H */
