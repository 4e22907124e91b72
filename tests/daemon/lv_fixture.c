/* SPDX-License-Identifier: MIT */
/* The libvirt-on-QEMU tests' fixtures (lv_fixture.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/daemon/lv_fixture.h"

bool lv_fixture(char *uri, size_t ulen, char *image, size_t ilen)
{
	const char *uri_file = getenv("PVM_TEST_LV_FILE"), *img = getenv("PVM_TEST_LINUX_IMAGE");
	char kernel[PATH_MAX + 16];
	FILE *f = uri_file ? fopen(uri_file, "r") : NULL;
	bool ok = f && fgets(uri, (int)ulen, f);

	if (f)
		fclose(f);
	if (ok)
		uri[strcspn(uri, "\r\n")] = '\0';
	if (!ok || !*uri) {
		printf("SKIP: no libvirtd test server (tests/libvirt/lv-server)\n");
		return false;
	}
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", img ? img : "");
	if (!img || access(kernel, R_OK) != 0 || (size_t)snprintf(image, ilen, "%s", img) >= ilen) {
		printf("SKIP: no Linux guest image (packaging/guest-images/build-linux)\n");
		return false;
	}
	return true;
}
