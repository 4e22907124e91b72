/* SPDX-License-Identifier: MIT */
/* bench/linux's phases, each timing boots of the same Linux guest image. */
#ifndef PVM_BENCH_LINUX_H
#define PVM_BENCH_LINUX_H

/* The all-in-one pvmd on the libvirtd at uri, with the image registered;
 * 0 or a negative errno (then nothing runs). */
int bench_rest_open(const char *uri);
/* n linux guests created at once through POST /v1/guests, to the moment
 * GET /v1/guests/{id} shows the last one's agent hello; then stopped and
 * deleted. Seconds, or a negative errno. */
double bench_rest_boot(int run, int n);
/* Stops pvmd; 0, or -EIO when it did not exit cleanly. */
int bench_rest_close(void);

#endif /* PVM_BENCH_LINUX_H */
