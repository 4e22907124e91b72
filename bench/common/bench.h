/* SPDX-License-Identifier: MIT */
/*
 * What the benchmarks share: the median of repeats, and wrk (started,
 * waited for, its summary parsed), so several can run side by side.
 */
#ifndef PVM_BENCH_COMMON_H
#define PVM_BENCH_COMMON_H

#include <stddef.h>
#include <sys/types.h>

struct pvm_buf;

/* One request with the bearer token (POST with body when body is not NULL);
 * the answer is appended to out. The HTTP status, 0 when none came. */
long bench_http(const char *url, const char *token, const char *body, struct pvm_buf *out);

/* Sorts v in place. */
double bench_median(double *v, size_t n);

struct bench_wrk_result {
	double rps;
	double p99_ms;
	long non2xx; /* answers that were neither 2xx nor 3xx */
};

struct bench_wrk {
	pid_t pid;
	int out; /* wrk's stdout */
};

/* wrk -t threads -c conns -d seconds with the bearer token and a JSON
 * content type; script (may be NULL) a Lua file. */
int bench_wrk_start(const char *url, const char *token, const char *script, int threads, int conns,
		    int seconds, struct bench_wrk *w);
/* Waits for it and parses its summary; -EIO when it failed. */
int bench_wrk_finish(struct bench_wrk *w, struct bench_wrk_result *out);

#endif /* PVM_BENCH_COMMON_H */
