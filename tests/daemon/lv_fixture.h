/* SPDX-License-Identifier: MIT */
/*
 * What the lv fixture (tests/libvirt/lv-server: the libvirtd URI in the file
 * PVM_TEST_LV_FILE names) and the linux_image fixture (build-linux's folder,
 * PVM_TEST_LINUX_IMAGE) left for the libvirt-on-QEMU tests.
 */
#ifndef PVM_TESTS_DAEMON_LV_FIXTURE_H
#define PVM_TESTS_DAEMON_LV_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

/* The URI and the image folder; false after one SKIP: line when either is missing. */
bool lv_fixture(char *uri, size_t ulen, char *image, size_t ilen);

#endif /* PVM_TESTS_DAEMON_LV_FIXTURE_H */
