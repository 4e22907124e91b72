/* SPDX-License-Identifier: MIT */
/* Host and guest descriptions: defaults, validation, the exit model. */
#include <math.h>
#include <string.h>

#include "schedulers/internal.h"

/* Bounds that keep every per-host sum far from overflow. */
#define MAX_CPUS	(1u << 20)
#define MAX_SIZE	(UINT64_C(1) << 40) /* MiB or GiB */
#define MAX_RATE	1e12		    /* per second */
#define ABI_VERSION_MAX 31u

void sched_host_init(struct sched_host *h)
{
	memset(h, 0, sizeof(*h));
	h->state = SCHED_HOST_READY;
}

void sched_guest_init(struct sched_guest *g)
{
	memset(g, 0, sizeof(*g));
	g->kind = SCHED_KIND_MICROGUEST;
	g->vcpus = 1;
}

static int check_id(const char *id, const char *field, bool allow_empty, struct pvm_err *err)
{
	size_t len = strnlen(id, SCHED_ID_MAX);

	if (len == SCHED_ID_MAX)
		return pvm_err_field(err, -EINVAL, field, "longer than %d bytes", SCHED_ID_MAX - 1);
	if (!len && !allow_empty)
		return pvm_err_field(err, -EINVAL, field, "empty");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] == 0x7f)
			return pvm_err_field(err, -EINVAL, field,
					     "control character or space at byte %zu", i);
	return 0;
}

static int check_label_word(const char *s, const char *field, bool allow_empty, struct pvm_err *err)
{
	char tmp[2 * SCHED_ID_MAX + 2];
	struct sched_label l;
	unsigned int n;
	int rc;

	if (strnlen(s, SCHED_ID_MAX) == SCHED_ID_MAX)
		return pvm_err_field(err, -EINVAL, field, "longer than %d bytes", SCHED_ID_MAX - 1);
	/* Reuse the parser's character rules on "k=s" (or "s=" for a key). */
	if (allow_empty)
		snprintf(tmp, sizeof(tmp), "k=%s", s);
	else
		snprintf(tmp, sizeof(tmp), "%s=", s);
	if (!allow_empty && !*s)
		return pvm_err_field(err, -EINVAL, field, "empty");
	rc = sched_labels_parse(tmp, &l, 1, &n, err);
	if (rc)
		return pvm_err_field(err, rc, field, "%s", err ? err->msg : "invalid");
	return 0;
}

static bool rate_ok(double v)
{
	return isfinite(v) && v >= 0 && v <= MAX_RATE;
}

static int rate_error(const char *field, struct pvm_err *err)
{
	return pvm_err_field(err, -EINVAL, field, "must be a finite rate in [0, 1e12]");
}

int sched_host_validate(const struct sched_host *h, struct pvm_err *err)
{
	char field[64];
	int rc;

	rc = check_id(h->id, "/id", false, err);
	if (rc)
		return rc;
	if (h->cpus < 1 || h->cpus > MAX_CPUS)
		return pvm_err_field(err, -EINVAL, "/cpus", "must be in [1, %u]", MAX_CPUS);
	if (h->memory_mib < 1 || h->memory_mib > MAX_SIZE)
		return pvm_err_field(err, -EINVAL, "/memory_mib", "must be in [1, 2^40]");
	if (h->disk_gib > MAX_SIZE)
		return pvm_err_field(err, -EINVAL, "/disk_gib", "must be in [0, 2^40]");
	if (!sched_host_state_name(h->state))
		return pvm_err_field(err, -EINVAL, "/state", "unknown state %d", (int)h->state);
	if (!(h->exit_cost_ns >= 0 && h->exit_cost_ns <= 1e9))
		return pvm_err_field(err, -EINVAL, "/exit_cost_ns", "must be in [0, 1e9]");
	if (h->nlabels > SCHED_LABELS_MAX)
		return pvm_err_field(err, -E2BIG, "/labels", "more than %d labels",
				     SCHED_LABELS_MAX);
	for (unsigned int i = 0; i < h->nlabels; i++) {
		snprintf(field, sizeof(field), "/labels/%u/key", i);
		rc = check_label_word(h->labels[i].key, field, false, err);
		if (rc)
			return rc;
		snprintf(field, sizeof(field), "/labels/%u/value", i);
		rc = check_label_word(h->labels[i].value, field, true, err);
		if (rc)
			return rc;
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(h->labels[i].key, h->labels[j].key)) {
				snprintf(field, sizeof(field), "/labels/%u/key", i);
				return pvm_err_field(err, -EINVAL, field, "label key \"%s\" twice",
						     h->labels[i].key);
			}
	}
	if (h->hooks & ~SCHED_HOOKS_ALL)
		return pvm_err_field(err, -EINVAL, "/hooks", "unknown hook bits 0x%x",
				     h->hooks & ~SCHED_HOOKS_ALL);
	if (h->abi_versions & 1u)
		return pvm_err_field(err, -EINVAL, "/abi_versions", "ABI versions start at 1");
	if (h->hooks && !h->abi_versions)
		return pvm_err_field(err, -EINVAL, "/abi_versions",
				     "hooks offered without an ABI version");
	if (h->kinds & ~SCHED_KINDS_ALL)
		return pvm_err_field(err, -EINVAL, "/kinds", "unknown kind bits 0x%x",
				     h->kinds & ~SCHED_KINDS_ALL);
	if (h->platforms & ~PVM_PLATFORMS_ALL)
		return pvm_err_field(err, -EINVAL, "/platforms", "unknown platform bits 0x%x",
				     h->platforms & ~PVM_PLATFORMS_ALL);
	return 0;
}

int sched_guest_validate(const struct sched_guest *g, struct pvm_err *err)
{
	char field[64];
	int rc;

	rc = check_id(g->id, "/id", false, err);
	if (rc)
		return rc;
	if (g->vcpus < 1 || g->vcpus > MAX_CPUS)
		return pvm_err_field(err, -EINVAL, "/vcpus", "must be in [1, %u]", MAX_CPUS);
	if (g->memory_mib < 1 || g->memory_mib > MAX_SIZE)
		return pvm_err_field(err, -EINVAL, "/memory_mib", "must be in [1, 2^40]");
	if (g->disk_gib > MAX_SIZE)
		return pvm_err_field(err, -EINVAL, "/disk_gib", "must be in [0, 2^40]");
	if (!sched_kind_name(g->kind))
		return pvm_err_field(err, -EINVAL, "/kind", "unknown kind %d", (int)g->kind);
	if (g->platforms & ~PVM_PLATFORMS_ALL)
		return pvm_err_field(err, -EINVAL, "/platforms", "unknown platform bits 0x%x",
				     g->platforms & ~PVM_PLATFORMS_ALL);
	if (g->hooks_required & ~SCHED_HOOKS_ALL)
		return pvm_err_field(err, -EINVAL, "/hooks_required", "unknown hook bits 0x%x",
				     g->hooks_required & ~SCHED_HOOKS_ALL);
	if (g->hooks_preferred & ~SCHED_HOOKS_ALL)
		return pvm_err_field(err, -EINVAL, "/hooks_preferred", "unknown hook bits 0x%x",
				     g->hooks_preferred & ~SCHED_HOOKS_ALL);
	if (g->abi_version > ABI_VERSION_MAX)
		return pvm_err_field(err, -EINVAL, "/abi_version", "must be in [0, %u]",
				     ABI_VERSION_MAX);
	if ((g->hooks_required | g->hooks_preferred) && !g->abi_version)
		return pvm_err_field(err, -EINVAL, "/abi_version",
				     "hooks wanted without an ABI version");
	if (g->nselector > SCHED_SELECTOR_MAX)
		return pvm_err_field(err, -E2BIG, "/selector", "more than %d terms",
				     SCHED_SELECTOR_MAX);
	for (unsigned int i = 0; i < g->nselector; i++) {
		const struct sched_selector_term *t = &g->selector[i];

		snprintf(field, sizeof(field), "/selector/%u/op", i);
		if ((unsigned int)t->op > SCHED_SEL_ABSENT)
			return pvm_err_field(err, -EINVAL, field, "unknown operator %d",
					     (int)t->op);
		snprintf(field, sizeof(field), "/selector/%u/key", i);
		rc = check_label_word(t->key, field, false, err);
		if (rc)
			return rc;
		snprintf(field, sizeof(field), "/selector/%u/value", i);
		rc = check_label_word(t->value, field, true, err);
		if (rc)
			return rc;
	}
	rc = check_id(g->anti_affinity, "/anti_affinity", true, err);
	if (rc)
		return rc;
	/* Validation runs on every placement: field names are built only for
	 * the error. */
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		if (!rate_ok(g->stats.calls_per_s[h])) {
			snprintf(field, sizeof(field), "/stats/calls_per_s/%s", pv_hook_name(h));
			return rate_error(field, err);
		}
		if (!rate_ok(g->stats.exits_avoided_per_s[h])) {
			snprintf(field, sizeof(field), "/stats/exits_avoided_per_s/%s",
				 pv_hook_name(h));
			return rate_error(field, err);
		}
	}
	if (!rate_ok(g->stats.exits_per_s))
		return rate_error("/stats/exits_per_s", err);
	return 0;
}

int64_t sched_exits_milli(uint32_t wanted, const struct sched_hook_stats *st, uint32_t host_hooks)
{
	uint32_t missing = wanted & ~host_hooks;
	double exits;

	if (!st->known)
		return 0;
	exits = st->exits_per_s;
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		double avoided;

		if (!(missing & SCHED_HOOK_BIT(h)))
			continue;
		/* Without its hook the guest uses the emulated twin: every call
		 * costs at least one exit, usually many (one per UART byte). */
		avoided = st->exits_avoided_per_s[h];
		exits += avoided > st->calls_per_s[h] ? avoided : st->calls_per_s[h];
	}
	return llround(exits * SCHED_MILLI);
}

double sched_guest_exits_on(const struct sched_guest *g, uint32_t host_hooks)
{
	return (double)sched_exits_milli(g->hooks_required | g->hooks_preferred, &g->stats,
					 host_hooks) /
	       SCHED_MILLI;
}

double sched_affinity(uint32_t preferred, const struct sched_hook_stats *st, uint32_t hooks)
{
	double total = 0, served = 0;
	bool by_rate = false;

	if (!preferred)
		return 1;
	if (st->known)
		for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
			if (preferred & SCHED_HOOK_BIT(h) && st->calls_per_s[h] > 0)
				by_rate = true;
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		double w;

		if (!(preferred & SCHED_HOOK_BIT(h)))
			continue;
		w = by_rate ? st->calls_per_s[h] : 1;
		total += w;
		if (hooks & SCHED_HOOK_BIT(h))
			served += w;
	}
	return total > 0 ? served / total : 1;
}

double sched_hooks_kept(const struct sched_fleet *f, uint32_t unwanted)
{
	double spent = 0;

	for (unsigned int k = 0; f->hook_offerers && k < PV_HOOK_COUNT; k++)
		if (unwanted & SCHED_HOOK_BIT(k))
			spent += 1 - (double)f->hook_hosts[k] / f->hook_offerers;
	return 1 - spent / PV_HOOK_COUNT;
}

double sched_guest_pv_affinity(const struct sched_guest *g, uint32_t host_hooks)
{
	return sched_affinity(g->hooks_preferred, &g->stats, host_hooks);
}
