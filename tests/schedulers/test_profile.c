/* SPDX-License-Identifier: MIT */
/*
 * Workload profiles (schedulers/sim_profile.c): the recorded one parses, a
 * written profile reads back exactly, every malformed one is refused with
 * the line at fault, and the overload model costs a guest's work by it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers.h"
#include "schedulers/sim.h"

/* Round figures, so the CPU per exit can be worked out by hand:
 * console: emulated (1/1e5 - 1/1e7) s over (3 - 1e-5) exits a byte;
 * block: (1/1e4 - 1/1e5) over (10 - 1e-3); clock: (1/1e5 - 1/1e7) over
 * (3 - 1e-6). */
static const char good[] = "pvm-sim-profile 1\n"
			   "# a comment, then a blank line\n"
			   "\n"
			   "platform process\n"
			   "recorded by hand for the test\n"
			   "work console pv units_per_s=1e7 cpu_per_s=1 exits_per_s=100 "
			   "hook_calls_per_s=100\n"
			   "work console emulated units_per_s=1e5 cpu_per_s=1 exits_per_s=3e5 "
			   "hook_calls_per_s=10\n"
			   "work block pv units_per_s=1e5 cpu_per_s=1 exits_per_s=100 "
			   "hook_calls_per_s=100\n"
			   "work block emulated units_per_s=1e4 cpu_per_s=1 exits_per_s=1e5 "
			   "hook_calls_per_s=10\n"
			   "work clock pv units_per_s=1e7 cpu_per_s=1 exits_per_s=10 "
			   "hook_calls_per_s=10\n"
			   "work clock emulated units_per_s=1e5 cpu_per_s=1 exits_per_s=3e5 "
			   "hook_calls_per_s=10\n"
			   "work compute emulated units_per_s=1e8 cpu_per_s=1 exits_per_s=10 "
			   "hook_calls_per_s=0\n";

static void parse_good(struct sched_sim_profile *p)
{
	struct pvm_err err = {0};

	ck_assert_msg(sched_sim_profile_parse(good, p, &err) == 0, "%s", err.msg);
}

static void assert_same(const struct sched_sim_profile *a, const struct sched_sim_profile *b)
{
	ck_assert_str_eq(a->platform, b->platform);
	ck_assert_str_eq(a->recorded, b->recorded);
	for (int w = 0; w < SCHED_SIM_WORKS; w++)
		for (int v = 0; v < SCHED_SIM_VARIANTS; v++) {
			const struct sched_sim_figures *x = &a->work[w][v], *y = &b->work[w][v];

			ck_assert_int_eq(x->known, y->known);
			ck_assert(x->units_per_s == y->units_per_s);
			ck_assert(x->cpu_per_s == y->cpu_per_s);
			ck_assert(x->exits_per_s == y->exits_per_s);
			ck_assert(x->hook_calls_per_s == y->hook_calls_per_s);
		}
}

START_TEST(test_recorded_profile)
{
	const struct sched_sim_profile *p = sched_sim_profile_recorded();

	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->platform, "process");
	ck_assert_msg(strstr(p->recorded, "bench_pvaware") != NULL, "recorded: %s", p->recorded);
	for (int w = 0; w < SCHED_SIM_WORKS; w++)
		ck_assert(p->work[w][SCHED_SIM_VAR_EMULATED].known);
	/* the emulated twins cost more than their hooks, per unit of work */
	for (int w = 0; w < SCHED_SIM_WORK_COMPUTE; w++)
		ck_assert_msg(sched_sim_profile_cpu_per_unit(p, w, SCHED_SIM_VAR_EMULATED) >
				  sched_sim_profile_cpu_per_unit(p, w, SCHED_SIM_VAR_PV),
			      "%s", sched_sim_work_name(w));
	ck_assert(sched_sim_profile_cpu_per_exit(p) > 0);
}
END_TEST

START_TEST(test_round_trip)
{
	struct sched_sim_profile a, b;
	struct pvm_err err = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	/* the recorded profile's figures have every digit; the file's too */
	a = *sched_sim_profile_recorded();
	ck_assert_int_eq(sched_sim_profile_write(f, &a), 0);
	fclose(f);
	ck_assert_msg(sched_sim_profile_parse(text, &b, &err) == 0, "%s", err.msg);
	assert_same(&a, &b);
	free(text);
}
END_TEST

START_TEST(test_cpu_per_exit_by_hand)
{
	struct sched_sim_profile p;
	double console = (1 / 1e5 - 1 / 1e7) / (3 - 1e-5),
	       block = (1 / 1e4 - 1 / 1e5) / (10 - 1e-3), clock = (1 / 1e5 - 1 / 1e7) / (3 - 1e-6);

	/* block's is the largest, so the median is the larger of the others */
	ck_assert(block > console && block > clock);
	parse_good(&p);
	ck_assert_double_eq_tol(sched_sim_profile_cpu_per_exit(&p), fmax(console, clock), 1e-18);
	/* compute has no pv line: its emulated one stands for both */
	ck_assert(sched_sim_profile_cpu_per_unit(&p, SCHED_SIM_WORK_COMPUTE, SCHED_SIM_VAR_PV) ==
		  1e-8);
	ck_assert(sched_sim_profile_exits_per_unit(&p, SCHED_SIM_WORK_CONSOLE,
						   SCHED_SIM_VAR_EMULATED) == 3);
	ck_assert(sched_sim_profile_calls_per_unit(&p, SCHED_SIM_WORK_BLOCK, SCHED_SIM_VAR_PV) ==
		  1e-3);
}
END_TEST

/* The good profile with one line replaced (or added after the rest). */
static const struct {
	const char *from, *to;
	int rc;
	const char *says;
} bad[] = {
    {"pvm-sim-profile 1\n", "pvm-sim-profile 2\n", -EPROTO, "line 1: not a version 1"},
    {"pvm-sim-profile 1\n", "", -EPROTO, "line 3: not a version 1"},
    {"platform process\n", "platform process again\n", -EINVAL, "line 4: one platform"},
    {"platform process\n", "", -EINVAL, "no platform line"},
    {"recorded by hand", "colour blue\nrecorded by hand", -EINVAL, "line 5: unknown key"},
    {"work clock pv", "work disk pv", -EINVAL, "line 10: unknown workload \"disk\""},
    {"work clock pv", "work clock fast", -EINVAL, "line 10: the variant is pv or emulated"},
    {"work compute emulated", "work compute pv", -EINVAL, "line 12: compute has no hook"},
    {"work block pv units_per_s=1e5", "work console pv units_per_s=1e5", -EEXIST,
     "line 8: a second console pv line"},
    {"work block pv units_per_s=1e5", "work block pv speed=1e5", -EINVAL,
     "line 8: expected units_per_s="},
    {"units_per_s=1e4", "units_per_s=-1e4", -ERANGE, "line 9: units_per_s is not a number"},
    {"units_per_s=1e4", "units_per_s=nan", -ERANGE, "line 9: units_per_s is not a number"},
    {"units_per_s=1e4", "units_per_s=1e13", -ERANGE, "line 9: units_per_s is not a number"},
    {"units_per_s=1e4", "units_per_s=1e4x", -ERANGE, "line 9: units_per_s is not a number"},
    {"units_per_s=1e4", "units_per_s=", -ERANGE, "line 9: units_per_s is not a number"},
    {"units_per_s=1e4", "units_per_s=0", -ERANGE, "line 9: a workload that did no work"},
    {"exits_per_s=1e5 hook_calls_per_s=10", "exits_per_s=1e5", -EINVAL,
     "line 9: hook_calls_per_s is missing"},
    {"exits_per_s=1e5 hook_calls_per_s=10", "exits_per_s=1e5 hook_calls_per_s=10 more=1", -EINVAL,
     "line 9: unexpected \"more=1\""},
    {"work clock emulated", "# work clock emulated", -EINVAL, "no clock emulated line"},
};

START_TEST(test_bad_profile_is_refused)
{
	const char *at = strstr(good, bad[_i].from);
	struct sched_sim_profile p;
	struct pvm_err err = {0};
	char text[sizeof(good) + 128];

	ck_assert_ptr_nonnull(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, bad[_i].to,
		 at + strlen(bad[_i].from));
	ck_assert_int_eq(sched_sim_profile_parse(text, &p, &err), bad[_i].rc);
	ck_assert_msg(strstr(err.msg, bad[_i].says) != NULL, "case %d: \"%s\"", _i, err.msg);
}
END_TEST

START_TEST(test_long_line_is_refused)
{
	struct sched_sim_profile p;
	struct pvm_err err = {0};
	char text[sizeof(good) + 640];

	snprintf(text, sizeof(text), "%srecorded %0600d\n", good, 0);
	ck_assert_int_eq(sched_sim_profile_parse(text, &p, &err), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "line 13 is longer than"));
}
END_TEST

/* Writes len bytes of text, repeated, to a fresh file named from path. */
static void write_file(char *path, const char *text, size_t len)
{
	int fd = mkstemp(path);
	size_t n = strlen(text);

	ck_assert_int_ge(fd, 0);
	for (size_t done = 0; done < len;) {
		size_t k = len - done < n ? len - done : n;

		ck_assert_int_eq(write(fd, text, k), (ssize_t)k);
		done += k;
	}
	close(fd);
}

START_TEST(test_load)
{
	char path[] = "/tmp/pvm-profile-XXXXXX";
	struct sched_sim_profile p, q;
	struct pvm_err err = {0};
	char nul[sizeof(good)];
	int fd;

	write_file(path, good, strlen(good));
	ck_assert_msg(sched_sim_profile_load(path, &p, &err) == 0, "%s", err.msg);
	parse_good(&q);
	assert_same(&p, &q);
	unlink(path);

	strcpy(path, "/tmp/pvm-profile-XXXXXX");
	write_file(path, good, SCHED_SIM_PROFILE_MAX + 1);
	ck_assert_int_eq(sched_sim_profile_load(path, &p, &err), -E2BIG);
	unlink(path);

	memcpy(nul, good, sizeof(good));
	nul[20] = '\0';
	strcpy(path, "/tmp/pvm-profile-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, nul, sizeof(nul) - 1), (ssize_t)sizeof(nul) - 1);
	close(fd);
	ck_assert_int_eq(sched_sim_profile_load(path, &p, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
	unlink(path);

	ck_assert_int_eq(sched_sim_profile_load("/nonexistent/profile", &p, &err), -ENOENT);
}
END_TEST

/* A pv console guest costs, on a host without the console hook, what its
 * work costs on the emulated twin: the profile's ratio, nothing else. */
START_TEST(test_model_costs_by_profile)
{
	struct sched_sim s = {0};
	struct sched_sim_guest g = {0};
	struct sched_host with, without;
	double pv, emu, per_unit_pv, per_unit_emu;

	parse_good(&s.profile);
	s.cpu_per_exit_s = sched_sim_profile_cpu_per_exit(&s.profile);
	base_host(&with, "with");
	base_host(&without, "without");
	without.hooks &= ~SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
	base_guest(&g.spec, "g");
	g.spec.vcpus = 2;
	g.spec.hooks_preferred = SCHED_HOOK_BIT(PV_HOOK_CONSOLE);
	g.work[SCHED_SIM_WORK_CONSOLE] = 20000; /* bytes a second */

	pv = sched_sim_true_cpu(&s, &g, &with);
	emu = sched_sim_true_cpu(&s, &g, &without);
	per_unit_pv =
	    sched_sim_profile_cpu_per_unit(&s.profile, SCHED_SIM_WORK_CONSOLE, SCHED_SIM_VAR_PV);
	per_unit_emu = sched_sim_profile_cpu_per_unit(&s.profile, SCHED_SIM_WORK_CONSOLE,
						      SCHED_SIM_VAR_EMULATED);
	ck_assert_double_eq_tol(pv, 20000 * per_unit_pv, 1e-12);
	ck_assert_double_eq_tol(emu, 20000 * per_unit_emu, 1e-12);
	ck_assert_double_eq_tol(emu / pv, per_unit_emu / per_unit_pv, 1e-9);
	ck_assert_double_eq_tol(sched_sim_true_exits(&s, &g, &without), 20000 * 3.0, 1e-9);

	/* never more than its vCPUs; unprofiled exits at the CPU per exit */
	g.work[SCHED_SIM_WORK_CONSOLE] = 1e7;
	ck_assert_double_eq(sched_sim_true_cpu(&s, &g, &without), 2);
	g.work[SCHED_SIM_WORK_CONSOLE] = 0;
	g.base_exits_per_s = 1000;
	ck_assert_double_eq_tol(sched_sim_true_cpu(&s, &g, &with), 1000 * s.cpu_per_exit_s, 1e-15);
}
END_TEST

START_TEST(test_generate_needs_a_cost_per_exit)
{
	struct sched_sim_profile p;
	struct sched_sim s;
	struct pvm_err err = {0};

	/* every twin as cheap as its hook: exits cost nothing it could measure */
	parse_good(&p);
	for (int w = 0; w < SCHED_SIM_WORK_COMPUTE; w++)
		p.work[w][SCHED_SIM_VAR_EMULATED] = p.work[w][SCHED_SIM_VAR_PV];
	ck_assert_int_eq(sched_sim_generate(4, 10, 1, &p, &s, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "no CPU per exit"));

	ck_assert_msg(sched_sim_generate(4, 10, 1, NULL, &s, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(s.profile.platform, sched_sim_profile_recorded()->platform);
	sched_sim_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched_profile");
	TCase *tc = tcase_create("profile");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_recorded_profile);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_cpu_per_exit_by_hand);
	tcase_add_loop_test(tc, test_bad_profile_is_refused, 0, (int)PVM_ARRAY_SIZE(bad));
	tcase_add_test(tc, test_long_line_is_refused);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_model_costs_by_profile);
	tcase_add_test(tc, test_generate_needs_a_cost_per_exit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
