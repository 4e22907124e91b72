/* SPDX-License-Identifier: MIT */
/*
 * Workload profiles: what real guests cost, recorded by bench/pvaware and
 * read by the simulator's overload model. One line a fact:
 *
 *   pvm-sim-profile 1
 *   platform process
 *   recorded <free text: who, when, where>
 *   work <console|block|clock|compute> <pv|emulated> units_per_s=U cpu_per_s=C \
 *        exits_per_s=X hook_calls_per_s=H
 *
 * Each work line is one workload alone on one host CPU: the work it did by
 * the benchmark's clock, the host CPU time its VMM and guest processes took,
 * and the exits and hook calls the VMM counted, all per second of the same
 * window. Every I/O workload has both variants; compute has no hook, so
 * only its emulated line. Anything else is refused with the line's number.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/sim.h"

#define PROFILE_VERSION 1
#define LINE_MAX_LEN	512

static const char *const work_names[SCHED_SIM_WORKS] = {
    [SCHED_SIM_WORK_CONSOLE] = "console",
    [SCHED_SIM_WORK_BLOCK] = "block",
    [SCHED_SIM_WORK_CLOCK] = "clock",
    [SCHED_SIM_WORK_COMPUTE] = "compute",
};

static const char *const variant_names[SCHED_SIM_VARIANTS] = {
    [SCHED_SIM_VAR_PV] = "pv",
    [SCHED_SIM_VAR_EMULATED] = "emulated",
};

/* The order of the figures on a work line. */
static const char *const figure_names[] = {"units_per_s", "cpu_per_s", "exits_per_s",
					   "hook_calls_per_s"};

/* schedulers/profiles/recorded.profile, built in (profiles/embed.cmake). */
extern const char sched_sim_profile_recorded_text[];

static struct sched_sim_profile recorded;
static bool recorded_ok;
static pthread_once_t recorded_once = PTHREAD_ONCE_INIT;

static void recorded_parse(void)
{
	recorded_ok =
	    sched_sim_profile_parse(sched_sim_profile_recorded_text, &recorded, NULL) == 0;
}

const struct sched_sim_profile *sched_sim_profile_recorded(void)
{
	pthread_once(&recorded_once, recorded_parse);
	return recorded_ok ? &recorded : NULL;
}

const char *sched_sim_work_name(enum sched_sim_work w)
{
	return w < SCHED_SIM_WORKS ? work_names[w] : "?";
}

int sched_sim_work_hook(enum sched_sim_work w)
{
	switch (w) {
	case SCHED_SIM_WORK_CONSOLE:
		return PV_HOOK_CONSOLE;
	case SCHED_SIM_WORK_BLOCK:
		return PV_HOOK_BLOCK;
	case SCHED_SIM_WORK_CLOCK:
		return PV_HOOK_CLOCK;
	default:
		return -1;
	}
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

static double *figure(struct sched_sim_figures *f, size_t i)
{
	double *const at[] = {&f->units_per_s, &f->cpu_per_s, &f->exits_per_s,
			      &f->hook_calls_per_s};

	return at[i];
}

/* "name=value" for figure i of a work line. */
static int parse_figure(const char *tok, size_t i, struct sched_sim_figures *f, unsigned int line,
			struct pvm_err *err)
{
	size_t n = strlen(figure_names[i]);
	char *end;
	double v;

	if (strncmp(tok, figure_names[i], n) || tok[n] != '=')
		return pvm_err_set(err, -EINVAL, "profile line %u: expected %s=, got \"%.40s\"",
				   line, figure_names[i], tok);
	errno = 0;
	v = strtod(tok + n + 1, &end);
	if (errno || end == tok + n + 1 || *end || !isfinite(v) || v < 0 || v > 1e12)
		return pvm_err_set(err, -ERANGE,
				   "profile line %u: %s is not a number from 0 to 1e12: \"%.40s\"",
				   line, figure_names[i], tok + n + 1);
	*figure(f, i) = v;
	return 0;
}

static int parse_work(char *rest, unsigned int line, struct sched_sim_profile *p,
		      struct pvm_err *err)
{
	char *save = NULL, *tok = strtok_r(rest, " \t", &save);
	struct sched_sim_figures f = {.known = true};
	int w = tok ? name_index(work_names, SCHED_SIM_WORKS, tok) : -1;
	int v;

	if (w < 0)
		return pvm_err_set(err, -EINVAL, "profile line %u: unknown workload \"%.40s\"",
				   line, tok ? tok : "");
	tok = strtok_r(NULL, " \t", &save);
	v = tok ? name_index(variant_names, SCHED_SIM_VARIANTS, tok) : -1;
	if (v < 0)
		return pvm_err_set(err, -EINVAL,
				   "profile line %u: the variant is pv or emulated, not \"%.40s\"",
				   line, tok ? tok : "");
	if (v == SCHED_SIM_VAR_PV && sched_sim_work_hook((enum sched_sim_work)w) < 0)
		return pvm_err_set(err, -EINVAL, "profile line %u: %s has no hook, so no pv line",
				   line, work_names[w]);
	if (p->work[w][v].known)
		return pvm_err_set(err, -EEXIST, "profile line %u: a second %s %s line", line,
				   work_names[w], variant_names[v]);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(figure_names); i++) {
		int rc;

		tok = strtok_r(NULL, " \t", &save);
		if (!tok)
			return pvm_err_set(err, -EINVAL, "profile line %u: %s is missing", line,
					   figure_names[i]);
		rc = parse_figure(tok, i, &f, line, err);
		if (rc)
			return rc;
	}
	tok = strtok_r(NULL, " \t", &save);
	if (tok)
		return pvm_err_set(err, -EINVAL, "profile line %u: unexpected \"%.40s\"", line,
				   tok);
	if (f.units_per_s <= 0 || f.cpu_per_s <= 0)
		return pvm_err_set(err, -ERANGE,
				   "profile line %u: a workload that did no work or took no CPU "
				   "says nothing of its cost",
				   line);
	p->work[w][v] = f;
	return 0;
}

/* A "key value" line; the value is the rest of the line. */
static int parse_line(char *s, unsigned int line, bool *version_seen, struct sched_sim_profile *p,
		      struct pvm_err *err)
{
	char *val = s + strcspn(s, " \t");

	if (*val)
		*val++ = '\0';
	val += strspn(val, " \t");
	if (!*version_seen) {
		if (strcmp(s, "pvm-sim-profile") || strcmp(val, "1"))
			return pvm_err_set(err, -EPROTO,
					   "profile line %u: not a version %d profile (the first "
					   "line must be \"pvm-sim-profile %d\")",
					   line, PROFILE_VERSION, PROFILE_VERSION);
		*version_seen = true;
		return 0;
	}
	if (!strcmp(s, "platform")) {
		if (p->platform[0] || !*val || strlen(val) >= sizeof(p->platform) ||
		    val[strcspn(val, " \t")])
			return pvm_err_set(err, -EINVAL,
					   "profile line %u: one platform, one word, at most %zu "
					   "characters",
					   line, sizeof(p->platform) - 1);
		snprintf(p->platform, sizeof(p->platform), "%s", val);
		return 0;
	}
	if (!strcmp(s, "recorded")) {
		if (p->recorded[0] || !*val || strlen(val) >= sizeof(p->recorded))
			return pvm_err_set(err, -EINVAL,
					   "profile line %u: one recorded line of at most %zu "
					   "characters",
					   line, sizeof(p->recorded) - 1);
		snprintf(p->recorded, sizeof(p->recorded), "%s", val);
		return 0;
	}
	if (!strcmp(s, "work"))
		return parse_work(val, line, p, err);
	return pvm_err_set(err, -EINVAL, "profile line %u: unknown key \"%.40s\"", line, s);
}

int sched_sim_profile_parse(const char *text, struct sched_sim_profile *out, struct pvm_err *err)
{
	struct sched_sim_profile p;
	bool version_seen = false;
	unsigned int line = 0;
	const char *s = text;

	memset(&p, 0, sizeof(p));
	while (*s) {
		size_t n = strcspn(s, "\n");
		char buf[LINE_MAX_LEN];
		int rc;

		line++;
		if (n >= sizeof(buf))
			return pvm_err_set(err, -E2BIG, "profile line %u is longer than %zu bytes",
					   line, sizeof(buf) - 1);
		memcpy(buf, s, n);
		buf[n] = '\0';
		s += n + (s[n] == '\n');
		if (buf[strspn(buf, " \t")] == '\0' || buf[strspn(buf, " \t")] == '#')
			continue;
		rc = parse_line(buf + strspn(buf, " \t"), line, &version_seen, &p, err);
		if (rc)
			return rc;
	}
	if (!version_seen)
		return pvm_err_set(err, -EPROTO, "profile: empty");
	if (!p.platform[0])
		return pvm_err_set(err, -EINVAL, "profile: no platform line");
	for (int w = 0; w < SCHED_SIM_WORKS; w++)
		for (int v = 0; v < SCHED_SIM_VARIANTS; v++)
			if (!p.work[w][v].known &&
			    (v == SCHED_SIM_VAR_EMULATED || sched_sim_work_hook(w) >= 0))
				return pvm_err_set(err, -EINVAL, "profile: no %s %s line",
						   work_names[w], variant_names[v]);
	*out = p;
	return 0;
}

int sched_sim_profile_load(const char *path, struct sched_sim_profile *out, struct pvm_err *err)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!f)
		return pvm_err_set(err, -errno, "profile %s: %s", path, strerror(errno));
	text = calloc(1, SCHED_SIM_PROFILE_MAX + 1);
	if (!text) {
		rc = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	len = fread(text, 1, SCHED_SIM_PROFILE_MAX + 1, f);
	if (ferror(f)) {
		rc = pvm_err_set(err, -EIO, "profile %s: read error", path);
		goto out;
	}
	if (len > SCHED_SIM_PROFILE_MAX) {
		rc = pvm_err_set(err, -E2BIG, "profile %s is over %d bytes", path,
				 SCHED_SIM_PROFILE_MAX);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		rc = pvm_err_set(err, -EINVAL, "profile %s holds a NUL byte", path);
		goto out;
	}
	rc = sched_sim_profile_parse(text, out, err);
out:
	free(text);
	fclose(f);
	return rc;
}

int sched_sim_profile_write(FILE *f, const struct sched_sim_profile *p)
{
	fprintf(f, "pvm-sim-profile %d\nplatform %s\n", PROFILE_VERSION, p->platform);
	if (p->recorded[0])
		fprintf(f, "recorded %s\n", p->recorded);
	for (int w = 0; w < SCHED_SIM_WORKS; w++)
		for (int v = 0; v < SCHED_SIM_VARIANTS; v++) {
			const struct sched_sim_figures *x = &p->work[w][v];

			if (!x->known)
				continue;
			/* %.17g: the figures read back exactly */
			fprintf(f,
				"work %s %s units_per_s=%.17g cpu_per_s=%.17g exits_per_s=%.17g "
				"hook_calls_per_s=%.17g\n",
				work_names[w], variant_names[v], x->units_per_s, x->cpu_per_s,
				x->exits_per_s, x->hook_calls_per_s);
		}
	return fflush(f) ? -errno : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double sched_sim_profile_cpu_per_exit(const struct sched_sim_profile *p)
{
	double v[SCHED_SIM_WORKS];
	int n = 0;

	/* Per unit of work, the emulated twin's extra CPU over its extra exits:
	 * what an exit costs the host, measured against the same work done
	 * through the hook. The median of the workloads where both differ. */
	for (int w = 0; w < SCHED_SIM_WORKS; w++) {
		const struct sched_sim_figures *e = &p->work[w][SCHED_SIM_VAR_EMULATED];
		const struct sched_sim_figures *h = &p->work[w][SCHED_SIM_VAR_PV];
		double dcpu, dexits;

		if (!e->known || !h->known)
			continue;
		dcpu = e->cpu_per_s / e->units_per_s - h->cpu_per_s / h->units_per_s;
		dexits = e->exits_per_s / e->units_per_s - h->exits_per_s / h->units_per_s;
		if (dcpu > 0 && dexits > 0)
			v[n++] = dcpu / dexits;
	}
	if (!n)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A workload without a hook runs the same either way: its emulated line. */
static const struct sched_sim_figures *figures_of(const struct sched_sim_profile *p,
						  enum sched_sim_work w, enum sched_sim_variant v)
{
	return p->work[w][v].known ? &p->work[w][v] : &p->work[w][SCHED_SIM_VAR_EMULATED];
}

double sched_sim_profile_cpu_per_unit(const struct sched_sim_profile *p, enum sched_sim_work w,
				      enum sched_sim_variant v)
{
	const struct sched_sim_figures *f = figures_of(p, w, v);

	return f->cpu_per_s / f->units_per_s;
}

double sched_sim_profile_exits_per_unit(const struct sched_sim_profile *p, enum sched_sim_work w,
					enum sched_sim_variant v)
{
	const struct sched_sim_figures *f = figures_of(p, w, v);

	return f->exits_per_s / f->units_per_s;
}

double sched_sim_profile_calls_per_unit(const struct sched_sim_profile *p, enum sched_sim_work w,
					enum sched_sim_variant v)
{
	const struct sched_sim_figures *f = figures_of(p, w, v);

	return f->hook_calls_per_s / f->units_per_s;
}
