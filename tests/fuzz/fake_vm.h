/* SPDX-License-Identifier: MIT */
/*
 * A VM without a vCPU for the hv fuzzers: guest memory is plain host
 * memory, the platform a stand-in that only answers what the hook service,
 * the control socket and the loader ask of it (doorbells, kicks, the TSC).
 */
#ifndef PVM_TESTS_FUZZ_FAKE_VM_H
#define PVM_TESTS_FUZZ_FAKE_VM_H

#include "hv/vm.h"

/*
 * mem_size bytes of zeroed guest RAM, one vCPU (the caller's thread), every
 * hook offered, the console to /dev/null. With devices, the I/O bus has the
 * pv ports and the emulated twins, and a disk of disk_sectors. Exits on
 * failure: a fuzzer without its VM has nothing to do.
 */
struct hv_vm *fuzz_vm_new(uint64_t mem_size, bool devices, uint64_t disk_sectors);

#endif /* PVM_TESTS_FUZZ_FAKE_VM_H */
