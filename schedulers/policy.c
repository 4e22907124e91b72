/* SPDX-License-Identifier: MIT */
/* Policies: which plugins run, their weights, and the knobs they read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/internal.h"

#define WEIGHT_MAX     1000.0
#define OVERCOMMIT_MAX 1000.0

void sched_policy_default(struct sched_policy *p)
{
	static const enum sched_filter_id filters[] = {
	    SCHED_FILTER_CAPACITY, SCHED_FILTER_STATE,	       SCHED_FILTER_PV,
	    SCHED_FILTER_LABELS,   SCHED_FILTER_ANTI_AFFINITY, SCHED_FILTER_MAX_GUESTS,
	};

	memset(p, 0, sizeof(*p));
	p->nfilters = PVM_ARRAY_SIZE(filters);
	memcpy(p->filters, filters, sizeof(filters));
	p->nscorers = 3;
	p->scorers[0] = (struct sched_weighted){SCHED_SCORER_BINPACK, 1};
	p->scorers[1] = (struct sched_weighted){SCHED_SCORER_PV_AFFINITY, 2};
	p->scorers[2] = (struct sched_weighted){SCHED_SCORER_EXIT_PRESSURE, 3};
	p->cpu_overcommit = 4;
	/* A user-space exit costs ~50 us on PVM-style hosts (PVM-HOSTS.md):
	 * one core serves about 20,000 per second. */
	p->exits_per_core = 20000;
	p->limit = SCHED_LIMIT_ALL;
	p->w_imbalance = 1;
	p->w_overload = 4;
	p->w_mismatch = 1;
}

static int parse_double(const char *s, size_t len, double min, double max, bool min_open,
			double *out)
{
	char buf[64];
	char *end;
	double v;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == ' ' || buf[0] == '+' || buf[0] == '\t')
		return -EINVAL;
	v = strtod(buf, &end);
	if (*end || !isfinite(v) || v < min || v > max || (min_open && v == min))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Finds name[0..len) among the filter or scorer names; -1 when unknown. */
static int find_plugin(bool scorer, const char *name, size_t len)
{
	unsigned int n = scorer ? SCHED_SCORER_COUNT : SCHED_FILTER_COUNT;

	for (unsigned int i = 0; i < n; i++) {
		const char *p = scorer ? sched_scorer_name(i) : sched_filter_name(i);

		if (strlen(p) == len && !memcmp(p, name, len))
			return (int)i;
	}
	return -1;
}

static int parse_filters(const char *v, size_t vlen, struct sched_policy *p, struct pvm_err *err)
{
	const char *s = v, *end = v + vlen;

	p->nfilters = 0;
	while (s < end) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		size_t len = c ? (size_t)(c - s) : (size_t)(end - s);
		int id = find_plugin(false, s, len);

		if (id < 0)
			return pvm_err_field(err, -EINVAL, "filters",
					     "unknown filter \"%.*s\" (known: capacity, state, pv, "
					     "labels, anti_affinity, max_guests)",
					     (int)(len > 32 ? 32 : len), s);
		for (unsigned int i = 0; i < p->nfilters; i++)
			if (p->filters[i] == (enum sched_filter_id)id)
				return pvm_err_field(err, -EINVAL, "filters",
						     "filter \"%.*s\" named twice", (int)len, s);
		p->filters[p->nfilters++] = (enum sched_filter_id)id;
		if (!c)
			break;
		s = c + 1;
		if (s == end)
			return pvm_err_field(err, -EINVAL, "filters", "empty name after ','");
	}
	return 0;
}

static int parse_scorers(const char *v, size_t vlen, struct sched_policy *p, struct pvm_err *err)
{
	const char *s = v, *end = v + vlen;

	p->nscorers = 0;
	while (s < end) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		size_t len = c ? (size_t)(c - s) : (size_t)(end - s);
		const char *colon = memchr(s, ':', len);
		size_t nlen = colon ? (size_t)(colon - s) : len;
		double w = 1;
		int id = find_plugin(true, s, nlen);

		if (id < 0)
			return pvm_err_field(err, -EINVAL, "scorers",
					     "unknown scorer \"%.*s\" (known: binpack, spread, "
					     "pv_affinity, exit_pressure)",
					     (int)(nlen > 32 ? 32 : nlen), s);
		if (colon && parse_double(colon + 1, len - nlen - 1, 0, WEIGHT_MAX, true, &w))
			return pvm_err_field(err, -EINVAL, "scorers",
					     "weight of \"%.*s\" must be a number in (0, %g]",
					     (int)nlen, s, WEIGHT_MAX);
		for (unsigned int i = 0; i < p->nscorers; i++)
			if (p->scorers[i].scorer == (enum sched_scorer_id)id)
				return pvm_err_field(err, -EINVAL, "scorers",
						     "scorer \"%.*s\" named twice", (int)nlen, s);
		p->scorers[p->nscorers++] = (struct sched_weighted){(enum sched_scorer_id)id, w};
		if (!c)
			break;
		s = c + 1;
		if (s == end)
			return pvm_err_field(err, -EINVAL, "scorers", "empty name after ','");
	}
	if (!p->nscorers)
		return pvm_err_field(err, -EINVAL, "scorers", "at least one scorer is needed");
	return 0;
}

static int parse_rebalance(const char *v, size_t vlen, struct sched_policy *p, struct pvm_err *err)
{
	const char *s = v, *end = v + vlen;

	while (s < end) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		size_t len = c ? (size_t)(c - s) : (size_t)(end - s);
		const char *colon = memchr(s, ':', len);
		size_t nlen = colon ? (size_t)(colon - s) : len;
		double *w = NULL;

		if (nlen == 9 && !memcmp(s, "imbalance", 9))
			w = &p->w_imbalance;
		else if (nlen == 8 && !memcmp(s, "overload", 8))
			w = &p->w_overload;
		else if (nlen == 8 && !memcmp(s, "mismatch", 8))
			w = &p->w_mismatch;
		if (!w || !colon ||
		    parse_double(colon + 1, len - nlen - 1, 0, WEIGHT_MAX, false, w))
			return pvm_err_field(
			    err, -EINVAL, "rebalance",
			    "rebalance \"%.*s\": want imbalance:W, overload:W or mismatch:W "
			    "with W in [0, %g]",
			    (int)(len > 40 ? 40 : len), s, WEIGHT_MAX);
		if (!c)
			break;
		s = c + 1;
	}
	return 0;
}

static int parse_item(const char *item, size_t len, struct sched_policy *p, struct pvm_err *err)
{
	const char *eq = memchr(item, '=', len);
	size_t klen, vlen;
	const char *v;

	if (!eq)
		return pvm_err_set(err, -EINVAL, "policy item \"%.*s\" is not key=value",
				   (int)(len > 40 ? 40 : len), item);
	klen = (size_t)(eq - item);
	v = eq + 1;
	vlen = len - klen - 1;
#define KEY_IS(k) (klen == sizeof(k) - 1 && !memcmp(item, k, klen))
	if (KEY_IS("filters"))
		return parse_filters(v, vlen, p, err);
	if (KEY_IS("scorers"))
		return parse_scorers(v, vlen, p, err);
	if (KEY_IS("rebalance"))
		return parse_rebalance(v, vlen, p, err);
	if (KEY_IS("cpu_overcommit")) {
		if (parse_double(v, vlen, 1, OVERCOMMIT_MAX, false, &p->cpu_overcommit))
			return pvm_err_field(err, -EINVAL, "cpu_overcommit",
					     "cpu_overcommit must be a number in [1, %g]",
					     OVERCOMMIT_MAX);
		return 0;
	}
	if (KEY_IS("exits_per_core")) {
		if (parse_double(v, vlen, 0, 1e12, true, &p->exits_per_core))
			return pvm_err_field(err, -EINVAL, "exits_per_core",
					     "exits_per_core must be a number in (0, 1e12]");
		return 0;
	}
	if (KEY_IS("limit")) {
		char buf[16];
		int64_t n;

		if (vlen == 4 && !memcmp(v, "auto", 4)) {
			p->limit = SCHED_LIMIT_AUTO;
			return 0;
		}
		if (vlen == 3 && !memcmp(v, "all", 3)) {
			p->limit = SCHED_LIMIT_ALL;
			return 0;
		}
		if (vlen && vlen < sizeof(buf)) {
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			if (!pvm_parse_int(buf, 1, UINT32_MAX - 1, &n)) {
				p->limit = (uint32_t)n;
				return 0;
			}
		}
		return pvm_err_field(err, -EINVAL, "limit",
				     "limit: want auto, all or a count >= 1");
	}
#undef KEY_IS
	return pvm_err_set(err, -EINVAL,
			   "unknown policy key \"%.*s\" (known: filters, scorers, cpu_overcommit, "
			   "exits_per_core, limit, rebalance)",
			   (int)(klen > 32 ? 32 : klen), item);
}

int sched_policy_parse(const char *s, struct sched_policy *p, struct pvm_err *err)
{
	struct sched_policy tmp = *p;
	const char *item = s;
	int rc;

	if (!s)
		return pvm_err_set(err, -EINVAL, "no policy string");
	while (*item) {
		const char *end = strchr(item, ';');
		size_t len = end ? (size_t)(end - item) : strlen(item);

		if (len) {
			rc = parse_item(item, len, &tmp, err);
			if (rc)
				return pvm_err_prefix(err, "policy");
		}
		if (!end)
			break;
		item = end + 1;
	}
	rc = sched_policy_validate(&tmp, err);
	if (rc)
		return rc;
	*p = tmp;
	return 0;
}

int sched_policy_validate(const struct sched_policy *p, struct pvm_err *err)
{
	if (p->nfilters > SCHED_PLUGINS_MAX || p->nscorers > SCHED_PLUGINS_MAX)
		return pvm_err_set(err, -EINVAL, "policy: too many plugins");
	for (unsigned int i = 0; i < p->nfilters; i++) {
		if (!sched_filter_plugin(p->filters[i]))
			return pvm_err_field(err, -EINVAL, "filters", "policy: unknown filter %d",
					     (int)p->filters[i]);
		for (unsigned int j = 0; j < i; j++)
			if (p->filters[i] == p->filters[j])
				return pvm_err_field(err, -EINVAL, "filters",
						     "policy: filter %s twice",
						     sched_filter_name(p->filters[i]));
	}
	if (!p->nscorers)
		return pvm_err_field(err, -EINVAL, "scorers",
				     "policy: at least one scorer is needed");
	for (unsigned int i = 0; i < p->nscorers; i++) {
		double w = p->scorers[i].weight;

		if (!sched_scorer_plugin(p->scorers[i].scorer))
			return pvm_err_field(err, -EINVAL, "scorers", "policy: unknown scorer %d",
					     (int)p->scorers[i].scorer);
		if (!isfinite(w) || w <= 0 || w > WEIGHT_MAX)
			return pvm_err_field(err, -EINVAL, "scorers",
					     "policy: weight of %s must be in (0, %g]",
					     sched_scorer_name(p->scorers[i].scorer), WEIGHT_MAX);
		for (unsigned int j = 0; j < i; j++)
			if (p->scorers[i].scorer == p->scorers[j].scorer)
				return pvm_err_field(err, -EINVAL, "scorers",
						     "policy: scorer %s twice",
						     sched_scorer_name(p->scorers[i].scorer));
	}
	if (!isfinite(p->cpu_overcommit) || p->cpu_overcommit < 1 ||
	    p->cpu_overcommit > OVERCOMMIT_MAX)
		return pvm_err_field(err, -EINVAL, "cpu_overcommit", "policy: must be in [1, %g]",
				     OVERCOMMIT_MAX);
	if (!isfinite(p->exits_per_core) || p->exits_per_core <= 0 || p->exits_per_core > 1e12)
		return pvm_err_field(err, -EINVAL, "exits_per_core",
				     "policy: must be in (0, 1e12]");
	if (!isfinite(p->w_imbalance) || !isfinite(p->w_overload) || !isfinite(p->w_mismatch) ||
	    p->w_imbalance < 0 || p->w_overload < 0 || p->w_mismatch < 0 ||
	    p->w_imbalance > WEIGHT_MAX || p->w_overload > WEIGHT_MAX || p->w_mismatch > WEIGHT_MAX)
		return pvm_err_field(err, -EINVAL, "rebalance",
				     "policy: weights must be in [0, %g]", WEIGHT_MAX);
	return 0;
}

bool sched_policy_packs(const struct sched_policy *p)
{
	double binpack = 0, spread = 0;

	for (unsigned int i = 0; i < p->nscorers; i++) {
		if (p->scorers[i].scorer == SCHED_SCORER_BINPACK)
			binpack = p->scorers[i].weight;
		else if (p->scorers[i].scorer == SCHED_SCORER_SPREAD)
			spread = p->scorers[i].weight;
	}
	return binpack > spread;
}

/* The shortest "%.Ng" that reads back as exactly v, so a formatted policy
 * parses to the same struct. */
static void put_number(struct pvm_buf *b, const char *prefix, double v)
{
	char tmp[40];

	for (int digits = 6; digits <= 17; digits++) {
		snprintf(tmp, sizeof(tmp), "%.*g", digits, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	pvm_buf_printf(b, "%s%s", prefix, tmp);
}

int sched_policy_format(const struct sched_policy *p, char *buf, size_t len)
{
	struct pvm_buf b;
	int n;

	pvm_buf_init(&b);
	pvm_buf_printf(&b, "filters=");
	for (unsigned int i = 0; i < p->nfilters; i++)
		pvm_buf_printf(&b, "%s%s", i ? "," : "", sched_filter_name(p->filters[i]));
	pvm_buf_printf(&b, ";scorers=");
	for (unsigned int i = 0; i < p->nscorers; i++) {
		pvm_buf_printf(&b, "%s%s", i ? "," : "", sched_scorer_name(p->scorers[i].scorer));
		put_number(&b, ":", p->scorers[i].weight);
	}
	put_number(&b, ";cpu_overcommit=", p->cpu_overcommit);
	put_number(&b, ";exits_per_core=", p->exits_per_core);
	if (p->limit == SCHED_LIMIT_AUTO)
		pvm_buf_printf(&b, ";limit=auto");
	else if (p->limit == SCHED_LIMIT_ALL)
		pvm_buf_printf(&b, ";limit=all");
	else
		pvm_buf_printf(&b, ";limit=%u", p->limit);
	put_number(&b, ";rebalance=imbalance:", p->w_imbalance);
	put_number(&b, ",overload:", p->w_overload);
	put_number(&b, ",mismatch:", p->w_mismatch);
	if (b.failed) {
		pvm_buf_free(&b);
		return -ENOMEM;
	}
	n = snprintf(buf, len, "%s", b.data);
	pvm_buf_free(&b);
	return n;
}
