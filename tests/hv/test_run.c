// SPDX-License-Identifier: MIT
/*
 * pvm-vmm end to end: every workload in both modes on real KVM, the fault
 * and configuration exit codes, --hooks restriction, the hostile guest.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hv/hv.h"
#include "vmm.h"

static json_object *run_stats(struct vmm_result *r, const char *image, const char *cmdline,
			      const char *extra1, const char *extra2)
{
	const char *stats = vmm_tmp("stats.json");
	char path[4096];
	const char *argv[16] = {"run",		"--image", vmm_guest(image), "--cmdline", cmdline,
				"--stats-json", stats};
	int n = 7;

	snprintf(path, sizeof(path), "%s", stats);
	if (extra1) {
		argv[n++] = extra1;
		argv[n++] = extra2;
	}
	argv[n] = NULL;
	ck_assert_int_eq(vmm_run(r, argv), 0);
	return vmm_read_json(path);
}

/* The statistics report in a stats document, decoded as pvmd decodes it. */
static struct pvm_report *report_of(json_object *stats)
{
	struct pvm_report *r = calloc(1, sizeof(*r));
	struct pvm_err err = {0};

	ck_assert_ptr_nonnull(r);
	ck_assert_msg(pvm_report_decode(json_object_object_get(stats, "report"), "/report", NULL, 0,
					r, &err) == 0,
		      "%s: %s", err.field, err.msg);
	ck_assert(r->has_platform && r->has_hooks && r->has_caps && r->has_exits);
	return r;
}

static int64_t report_exits(const struct pvm_report *r, const char *reason)
{
	for (size_t i = 0; i < r->nexits; i++)
		if (strcmp(r->exits[i].reason, reason) == 0)
			return r->exits[i].count;
	return -1;
}

START_TEST(console_identical_between_modes)
{
	struct vmm_result e, p;
	json_object *se = run_stats(&e, "console", "mode=emulated bytes=3000", NULL, NULL);
	json_object *sp = run_stats(&p, "console", "mode=pv bytes=3000", NULL, NULL);
	struct pvm_report *re, *rp;

	ck_assert_int_eq(e.code, 0);
	ck_assert_int_eq(p.code, 0);
	ck_assert_uint_eq(e.out_len, 3000);
	ck_assert_uint_eq(p.out_len, 3000);
	ck_assert_mem_eq(e.out, p.out, 3000);
	/* one exit a byte emulated; one doorbell for the whole batch in pv */
	ck_assert_int_ge(vmm_json_int(se, "io_exits.uart"), 3000);
	ck_assert_int_eq(vmm_json_int(sp, "io_exits.uart"), 0);
	ck_assert_int_eq(vmm_json_int(sp, "hooks.console.bytes"), 3000);
	ck_assert_int_le(vmm_json_int(sp, "hooks.console.doorbells"), 1);
	ck_assert_int_eq(vmm_json_int(sp, "errors.total"), 0);
	ck_assert_int_ge(vmm_json_int(sp, "exits_avoided.console"), 2999);
	/* the report says the same: the emulated guest negotiated nothing, the pv one console */
	re = report_of(se);
	rp = report_of(sp);
	ck_assert_uint_eq(re->nhooks, 0);
	ck_assert_uint_eq(re->ncaps, 0);
	ck_assert_int_ge(report_exits(re, "total"), 3000);
	ck_assert_int_eq(report_exits(re, "total"), vmm_json_int(se, "exits.total"));
	ck_assert_uint_ge(rp->nhooks, 1);
	ck_assert_uint_eq(rp->hooks[0].hook, PV_HOOK_CONSOLE);
	ck_assert_int_eq(rp->hooks[0].bytes, 3000);
	ck_assert_int_eq(rp->hooks[0].doorbells, vmm_json_int(sp, "hooks.console.doorbells"));
	ck_assert_int_eq(rp->hooks[0].exits_avoided, vmm_json_int(sp, "exits_avoided.console"));
	ck_assert(rp->hooks[0].has_histogram);
	ck_assert_int_eq(rp->platform, pvm_platform_id(json_object_get_string(
					   json_object_object_get(sp, "platform"))));
	free(re);
	free(rp);
	json_object_put(se);
	json_object_put(sp);
	vmm_result_free(&e);
	vmm_result_free(&p);
}
END_TEST

static void block_mode(const char *mode)
{
	const char *disk = vmm_tmp("disk.img");
	char cmd[128], dpath[4096];
	struct vmm_result r;
	json_object *s;
	FILE *f;

	snprintf(dpath, sizeof(dpath), "%s", disk);
	f = fopen(dpath, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "mode=%s kib=128 sector=16", mode);
	s = run_stats(&r, "block", cmd, "--disk", dpath);
	ck_assert_msg(r.code == 0, "exit %d: %s%s", r.code, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "block: 128 KiB written and verified"));
	if (!strcmp(mode, "pv")) {
		ck_assert_int_eq(vmm_json_int(s, "hooks.block.bytes"), 2 * 128 * 1024);
		ck_assert_int_eq(vmm_json_int(s, "io_exits.block"), 0);
	} else {
		ck_assert_int_eq(vmm_json_int(s, "emulated.block_sectors"), 2 * 256);
		/* The twin's cost, measured (twin_costs_measured has the others):
		 * 3 a sector and one exit to set up each of the two passes on the
		 * process platform. A PVM-style /dev/kvm takes an exit per few
		 * words of the sector's string I/O (34,050 here): kvm's figure is
		 * printed, and PV_TWIN_EXITS_PER_BLOCK_SECTOR under-counts there. */
		printf("twins: block %lld exits for %d sectors on %s\n",
		       (long long)vmm_json_int(s, "io_exits.block"), 2 * 256,
		       json_object_get_string(json_object_object_get(s, "platform")));
		if (!strcmp(json_object_get_string(json_object_object_get(s, "platform")),
			    "process"))
			ck_assert_int_eq(vmm_json_int(s, "io_exits.block"),
					 2 * 256 * PV_TWIN_EXITS_PER_BLOCK_SECTOR + 2);
	}
	/* the data reached the file where the guest put it */
	f = fopen(dpath, "r");
	uint32_t w = 0;
	ck_assert_int_eq(fseek(f, 16 * 512, SEEK_SET), 0);
	ck_assert_int_eq(fread(&w, 4, 1, f), 1);
	ck_assert_uint_eq(w, (uint32_t)(16 * 128 * 2654435761u) ^ 0x5a5a5a5au);
	fclose(f);
	unlink(dpath);
	json_object_put(s);
	vmm_result_free(&r);
}

START_TEST(block_emulated_verified)
{
	block_mode("emulated");
}
END_TEST

START_TEST(block_pv_verified)
{
	block_mode("pv");
}
END_TEST

START_TEST(clock_monotonic_both_modes)
{
	struct vmm_result e, p;
	json_object *se = run_stats(&e, "clock", "mode=emulated reads=200", NULL, NULL);
	/* agent=off: the agent's own time reads would add to the count */
	json_object *sp = run_stats(&p, "clock", "mode=pv reads=100000 agent=off", NULL, NULL);

	ck_assert_msg(e.code == 0, "%s", e.out);
	ck_assert_msg(p.code == 0, "%s", p.out);
	ck_assert_ptr_nonnull(strstr(e.out, "clock: 200 reads monotonic"));
	ck_assert_ptr_nonnull(strstr(p.out, "clock: 100000 reads monotonic"));
	/* 200 reads and the workload's own stopwatch, start and end */
	ck_assert_int_eq(vmm_json_int(se, "emulated.clock_reads"), 202);
	/* the clock page: no exits at all for 100000 reads */
	ck_assert_int_eq(vmm_json_int(sp, "io_exits.pit"), 0);
	ck_assert_int_eq(vmm_json_int(sp, "hooks.clock.guest_reads"), 100002);
	json_object_put(se);
	json_object_put(sp);
	vmm_result_free(&e);
	vmm_result_free(&p);
}
END_TEST

/*
 * The emulated twins cost what PV_TWIN_EXITS_* say, measured on real guests:
 * the scheduler's simulator and hv's exits_avoided both take them from there.
 */
START_TEST(twin_costs_measured)
{
	struct vmm_result c, k;
	json_object *sc = run_stats(&c, "console", "mode=emulated bytes=3000", NULL, NULL);
	json_object *sk = run_stats(&k, "clock", "mode=emulated reads=200", NULL, NULL);
	int64_t reads = vmm_json_int(sk, "emulated.clock_reads");

	ck_assert_int_eq(c.code, 0);
	ck_assert_int_eq(k.code, 0);
	printf("twins: uart %lld exits for %zu bytes; pit %lld exits for %lld reads\n",
	       (long long)vmm_json_int(sc, "io_exits.uart"), c.out_len,
	       (long long)vmm_json_int(sk, "io_exits.pit"), (long long)reads);
	ck_assert_int_eq(vmm_json_int(sc, "io_exits.uart"),
			 (int64_t)c.out_len * PV_TWIN_EXITS_PER_CONSOLE_BYTE);
	ck_assert_int_eq(vmm_json_int(sk, "io_exits.pit"), reads * PV_TWIN_EXITS_PER_CLOCK_READ);
	json_object_put(sc);
	json_object_put(sk);
	vmm_result_free(&c);
	vmm_result_free(&k);
}
END_TEST

/*
 * A guest that lies about its clock use (it claims 10^12 reads in the hook
 * page's counter) changes nothing the host reports as measured: the report
 * the controller's scheduler reads counts no exits avoided for the clock, and
 * the lie is shown only as the guest's own word.
 */
START_TEST(lying_guest_changes_no_measured_figure)
{
	struct vmm_result h, l;
	json_object *sh = run_stats(&h, "clock", "mode=pv reads=1000 agent=off", NULL, NULL);
	json_object *sl =
	    run_stats(&l, "clock", "mode=pv reads=1000 agent=off lie=1000000000000", NULL, NULL);
	struct pvm_report *rh = report_of(sh), *rl = report_of(sl);

	ck_assert_int_eq(h.code, 0);
	ck_assert_int_eq(l.code, 0);
	ck_assert_int_eq(vmm_json_int(sl, "guest.clock_reads"), 1000000000000);
	ck_assert_int_eq(vmm_json_int(sl, "exits_avoided.clock"), 0);
	ck_assert_int_eq(vmm_json_int(sh, "exits_avoided.clock"), 0);
	for (size_t i = 0; i < rl->nhooks; i++)
		ck_assert_int_eq(rl->hooks[i].exits_avoided, rh->hooks[i].exits_avoided);
	ck_assert_uint_eq(rl->nhooks, rh->nhooks);
	free(rh);
	free(rl);
	json_object_put(sh);
	json_object_put(sl);
	vmm_result_free(&h);
	vmm_result_free(&l);
}
END_TEST

START_TEST(compute_same_result_both_modes)
{
	struct vmm_result e, p;
	const char *a1[] = {
	    "run", "--image", vmm_guest("compute"), "--cmdline", "mode=emulated iters=3000000",
	    NULL};
	const char *a2[] = {
	    "run", "--image", vmm_guest("compute"), "--cmdline", "mode=pv iters=3000000", NULL};

	ck_assert_int_eq(vmm_run(&e, a1), 0);
	ck_assert_int_eq(vmm_run(&p, a2), 0);
	ck_assert_int_eq(e.code, 0);
	ck_assert_int_eq(p.code, 0);
	/* same loop, same answer */
	ck_assert_ptr_nonnull(strstr(e.out, "result="));
	ck_assert_ptr_nonnull(strstr(p.out, "result="));
	ck_assert_int_eq(strncmp(strstr(e.out, "result="), strstr(p.out, "result="), 24), 0);
	vmm_result_free(&e);
	vmm_result_free(&p);
}
END_TEST

START_TEST(two_vcpus)
{
	struct vmm_result r;
	const char *argv[] = {"run", "--image", vmm_guest("smp"), "--vcpus", "2", NULL};

	ck_assert_int_eq(vmm_run(&r, argv), 0);
	ck_assert_msg(r.code == 0, "%s%s", r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "smp: 2 of 2 vcpus ran"));
	vmm_result_free(&r);
}
END_TEST

static void fault_case(const char *kind, const char *what)
{
	struct vmm_result r;
	char cmd[32];
	const char *argv[] = {"run", "--image", vmm_guest("fault"), "--cmdline", cmd, NULL};

	snprintf(cmd, sizeof(cmd), "kind=%s", kind);
	ck_assert_int_eq(vmm_run(&r, argv), 0);
	ck_assert_int_eq(r.code, HV_EXIT_GUEST_FAULT);
	ck_assert_msg(strstr(r.err, what), "stderr: %s", r.err);
	vmm_result_free(&r);
}

START_TEST(guest_faults_reported)
{
	fault_case("ud", "#UD (vector 6)");
	fault_case("pf", "#PF (vector 14)");
	fault_case("gp", "#GP (vector 13)"); /* hlt at CPL3 */
	/* the fault port written from CPL3: ignored, the guest ends normally */
	struct vmm_result r;
	const char *argv[] = {"run",	   "--image",	 vmm_guest("fault"),
			      "--cmdline", "kind=forge", NULL};

	ck_assert_int_eq(vmm_run(&r, argv), 0);
	ck_assert_int_eq(r.code, 0);
	vmm_result_free(&r);
}
END_TEST

static void config_error(const char *const *argv, const char *what)
{
	struct vmm_result r;

	ck_assert_int_eq(vmm_run(&r, argv), 0);
	ck_assert_msg(r.code == HV_EXIT_CONFIG, "exit %d for %s", r.code, what);
	ck_assert_msg(strstr(r.err, what), "stderr '%s' lacks '%s'", r.err, what);
	/* one line */
	ck_assert_ptr_eq(strchr(r.err, '\n'), r.err + r.err_len - 1);
	vmm_result_free(&r);
}

static const char *write_file(const char *name, const void *data, size_t len)
{
	static char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s", vmm_tmp(name));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* A copy of a real guest image with its second program header moved onto the first. */
static const char *overlapping_image(void)
{
	static char out[4096];
	FILE *f = fopen(vmm_guest("console"), "r");
	char *buf = malloc(1 << 20);
	size_t n;
	uint64_t phoff, paddr0;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	memcpy(&phoff, buf + 0x20, 8);
	memcpy(&paddr0, buf + phoff + 0x10, 8);
	/* second PT_LOAD: p_vaddr and p_paddr = first's */
	memcpy(buf + phoff + 56 + 0x10, &paddr0, 8);
	memcpy(buf + phoff + 56 + 0x18, &paddr0, 8);
	snprintf(out, sizeof(out), "%s", write_file("overlap.elf", buf, n));
	free(buf);
	return out;
}

/* A copy of a real guest image whose last segment needs 100 MiB of memory. */
static const char *huge_image(void)
{
	static char out[4096];
	FILE *f = fopen(vmm_guest("console"), "r");
	char *buf = malloc(1 << 20);
	size_t n;
	uint64_t phoff, memsz = 100ull << 20;
	uint16_t phnum;
	int last = -1;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	memcpy(&phoff, buf + 0x20, 8);
	memcpy(&phnum, buf + 0x38, 2);
	for (int i = 0; i < phnum; i++) {
		uint32_t type;

		memcpy(&type, buf + phoff + 56 * i, 4);
		if (type == 1) /* PT_LOAD */
			last = i;
	}
	ck_assert_int_ge(last, 0);
	memcpy(buf + phoff + 56 * last + 0x28, &memsz, 8);
	snprintf(out, sizeof(out), "%s", write_file("huge.elf", buf, n));
	free(buf);
	return out;
}

START_TEST(bad_configuration_exit_2)
{
	const char *img = vmm_guest("console");
	char notelf[4096], overlap[4096], huge[4096];

	snprintf(notelf, sizeof(notelf), "%s", write_file("notelf", "#!/bin/sh\necho hi\n", 18));
	snprintf(overlap, sizeof(overlap), "%s", overlapping_image());
	snprintf(huge, sizeof(huge), "%s", huge_image());
	config_error((const char *[]){"run", NULL}, "--image is required");
	config_error((const char *[]){"run", "--image", "/nonexistent/guest", NULL},
		     "No such file");
	config_error((const char *[]){"run", "--image", notelf, NULL}, "not an ELF file");
	config_error((const char *[]){"run", "--image", overlap, NULL}, "overlap");
	config_error((const char *[]){"run", "--image", img, "--mem", "2", NULL}, "mem");
	config_error((const char *[]){"run", "--image", img, "--mem", "lots", NULL}, "mem");
	config_error((const char *[]){"run", "--image", img, "--vcpus", "0", NULL}, "vcpus");
	config_error((const char *[]){"run", "--image", img, "--disk", "/nonexistent/disk", NULL},
		     "disk /nonexistent/disk");
	config_error((const char *[]){"run", "--image", img, "--hooks", "console,bogus", NULL},
		     "unknown hook 'bogus'");
	config_error((const char *[]){"run", "--image", img, "--frobnicate", "1", NULL},
		     "frobnicate");
	config_error((const char *[]){"walk", NULL}, "unknown command");
	unlink(notelf);
	unlink(overlap);
	unlink(huge);
}
END_TEST

START_TEST(hooks_restricted_by_host)
{
	struct vmm_result r;
	json_object *s = run_stats(&r, "console", "mode=pv bytes=10", "--hooks", "none");
	struct pvm_report *rep;

	/* the host offers nothing: the guest accepts the empty subset and its
	 * console falls back to the emulated UART, byte for byte the same */
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "line 0000\n");
	ck_assert_int_eq(vmm_json_int(s, "capabilities.offered_mask"), 0);
	ck_assert_int_eq(vmm_json_int(s, "capabilities.negotiated_mask"), 0);
	ck_assert_int_eq(vmm_json_int(s, "io_exits.uart"), 10);
	ck_assert_int_eq(vmm_json_int(s, "errors.total"), 0);
	json_object_put(s);
	vmm_result_free(&r);
	/* the guest wants console and clock, the host offers console and halt */
	s = run_stats(&r, "console", "mode=pv bytes=10", "--hooks", "console,halt");
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "line 0000\n");
	ck_assert_int_eq(vmm_json_int(s, "capabilities.offered_mask"), 0x11);
	ck_assert_int_eq(vmm_json_int(s, "capabilities.negotiated_mask"), 1);
	ck_assert_int_eq(vmm_json_int(s, "hooks.console.bytes"), 10);
	/* the report: console accepted, halt offered and refused; clock was never offered */
	rep = report_of(s);
	ck_assert_uint_eq(rep->ncaps, 2);
	ck_assert_str_eq(rep->caps[0].name, "console");
	ck_assert(rep->caps[0].accepted);
	ck_assert_str_eq(rep->caps[1].name, "halt");
	ck_assert(!rep->caps[1].accepted);
	ck_assert_str_eq(rep->caps[1].reason, "not accepted by the guest");
	ck_assert_int_eq(rep->caps[1].abi_version, PV_ABI_VERSION);
	ck_assert_uint_eq(rep->nhooks, 1);
	ck_assert_uint_eq(rep->hooks[0].hook, PV_HOOK_CONSOLE);
	free(rep);
	json_object_put(s);
	vmm_result_free(&r);
}
END_TEST

static void hostile(const char *n, long long min)
{
	const char *disk = vmm_tmp("hostile.img");
	char dpath[4096], cmd[64];
	struct vmm_result r;
	json_object *s;
	FILE *f;
	long long abuses = -1;

	snprintf(dpath, sizeof(dpath), "%s", disk);
	f = fopen(dpath, "w");
	ck_assert_int_eq(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "n=%s seed=7", n);
	s = run_stats(&r, "hostile", cmd, "--disk", dpath);
	ck_assert_msg(r.code == 0, "exit %d: %s %s", r.code, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "unexpected=0"));
	ck_assert_int_eq(sscanf(strstr(r.out, "abuses="), "abuses=%lld", &abuses), 1);
	ck_assert_int_ge(abuses, min);
	/* every abuse counted as an error, none more */
	ck_assert_int_eq(vmm_json_int(s, "errors.total"), abuses);
	ck_assert_int_gt(vmm_json_int(s, "errors.negotiation_refused"), 0);
	ck_assert_int_gt(vmm_json_int(s, "errors.unknown_hook"), 0);
	ck_assert_int_gt(vmm_json_int(s, "hooks.console.errors"), 0);
	ck_assert_int_gt(vmm_json_int(s, "hooks.block.errors"), 0);
	ck_assert_int_gt(vmm_json_int(s, "hooks.agent.errors"), 0);
	ck_assert_int_ge(vmm_json_int(s, "hooks.halt.errors"), 2);
	unlink(dpath);
	json_object_put(s);
	vmm_result_free(&r);
}

START_TEST(negotiation_edge_cases)
{
	/* one round: bad pages, magic, versions too old and too new, unknown and
	 * reserved bits, bad rings and clock pages, double negotiation, reset and
	 * renegotiation, hooks used without negotiating them; the guest checks
	 * each reason code and error status it gets back */
	hostile("1", 50);
}
END_TEST

/* A console file with a size limit (how a host keeps a guest from filling
 * its disk): output past the limit is lost, the guest runs to its end. */
START_TEST(console_file_size_limit_is_not_fatal)
{
	const char *argv[] = {
	    "run", "--image", vmm_guest("console"), "--cmdline", "mode=pv bytes=1048576", NULL};
	struct rlimit old, lim;
	pid_t pid;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 65536;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	pid = vmm_spawn(argv, vmm_tmp("fsize.out"));
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(vmm_wait(pid), 0);
}
END_TEST

START_TEST(console_limit_caps_what_a_guest_writes)
{
	struct vmm_result e, p;
	json_object *se =
	    run_stats(&e, "console", "mode=emulated bytes=3000", "--console-limit", "1000");
	json_object *sp =
	    run_stats(&p, "console", "mode=pv bytes=100000", "--console-limit", "1000");

	/* the guest runs to its end; the console gets exactly the cap */
	ck_assert_int_eq(e.code, 0);
	ck_assert_int_eq(p.code, 0);
	ck_assert_uint_eq(e.out_len, 1000);
	ck_assert_uint_eq(p.out_len, 1000);
	ck_assert_mem_eq(e.out, p.out, 1000);
	ck_assert_int_eq(vmm_json_int(se, "console_dropped"), 2000);
	ck_assert_int_eq(vmm_json_int(sp, "console_dropped"), 99000);
	/* the hook still served every byte: the cap is the host's, not an error */
	ck_assert_int_eq(vmm_json_int(sp, "hooks.console.bytes"), 100000);
	ck_assert_int_eq(vmm_json_int(sp, "errors.total"), 0);
	json_object_put(se);
	json_object_put(sp);
	vmm_result_free(&e);
	vmm_result_free(&p);
}
END_TEST

START_TEST(hostile_10000_abuses_all_counted)
{
	hostile("10000", 10000);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	vmm_require_platform();
	s = suite_create("hv_run");
	tc = tcase_create("run");
	tcase_add_test(tc, console_identical_between_modes);
	tcase_add_test(tc, block_emulated_verified);
	tcase_add_test(tc, twin_costs_measured);
	tcase_add_test(tc, lying_guest_changes_no_measured_figure);
	tcase_add_test(tc, block_pv_verified);
	tcase_add_test(tc, clock_monotonic_both_modes);
	tcase_add_test(tc, compute_same_result_both_modes);
	tcase_add_test(tc, two_vcpus);
	tcase_add_test(tc, guest_faults_reported);
	tcase_add_test(tc, bad_configuration_exit_2);
	tcase_add_test(tc, hooks_restricted_by_host);
	tcase_add_test(tc, negotiation_edge_cases);
	tcase_add_test(tc, hostile_10000_abuses_all_counted);
	tcase_add_test(tc, console_file_size_limit_is_not_fatal);
	tcase_add_test(tc, console_limit_caps_what_a_guest_writes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
