/* SPDX-License-Identifier: MIT */
/*
 * The fleet: hosts, bound guests and anti-affinity groups, with per-host sums
 * updated on every bind, unbind and move (never recomputed over the fleet).
 */
#include <stdlib.h>
#include <string.h>

#include "schedulers/internal.h"

static const char *host_key(const void *owner, uint32_t i)
{
	return ((const struct sched_fleet *)owner)->cold[i].h.id;
}

static const char *guest_key(const void *owner, uint32_t i)
{
	return ((const struct sched_fleet *)owner)->guests[i].id;
}

static const char *group_key(const void *owner, uint32_t i)
{
	return ((const struct sched_fleet *)owner)->groups[i].name;
}

int sched_fleet_new(const struct sched_policy *policy, struct sched_fleet **out,
		    struct pvm_err *err)
{
	struct sched_fleet *f;
	int rc;

	f = calloc(1, sizeof(*f));
	if (!f)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	if (policy) {
		rc = sched_policy_validate(policy, err);
		if (rc) {
			free(f);
			return rc;
		}
		f->policy = *policy;
	} else {
		sched_policy_default(&f->policy);
	}
	f->free_guest = -1;
	f->free_group = -1;
	sched_map_init(&f->host_map, host_key, f);
	sched_map_init(&f->guest_map, guest_key, f);
	sched_map_init(&f->group_map, group_key, f);
	sched_index_init(f);
	*out = f;
	return 0;
}

void sched_fleet_free(struct sched_fleet *f)
{
	if (!f)
		return;
	for (uint32_t i = 0; i < f->guests_used; i++)
		free(f->guests[i].sel);
	free(f->guests);
	free(f->hot);
	free(f->cold);
	free(f->groups);
	sched_index_free(f);
	sched_map_free(&f->host_map);
	sched_map_free(&f->guest_map);
	sched_map_free(&f->group_map);
	free(f);
}

int sched_fleet_set_policy(struct sched_fleet *f, const struct sched_policy *policy,
			   struct pvm_err *err)
{
	int rc = sched_policy_validate(policy, err);

	if (!rc)
		f->policy = *policy;
	return rc;
}

const struct sched_policy *sched_fleet_policy(const struct sched_fleet *f)
{
	return &f->policy;
}

int64_t sched_fleet_find_host(const struct sched_fleet *f, const char *id)
{
	return id ? sched_map_get(&f->host_map, id) : -1;
}

int64_t sched_fleet_find_guest(const struct sched_fleet *f, const char *id)
{
	return id ? sched_map_get(&f->guest_map, id) : -1;
}

/* ---- hosts ------------------------------------------------------------- */

/* Adds (sign 1) or takes away (-1) a host's hooks from the fleet's counts
 * of what is on offer: only a host that takes guests offers any. */
static void count_hooks(struct sched_fleet *f, const struct sched_host_hot *hot, int sign)
{
	if (hot->state != SCHED_HOST_READY || hot->cordoned || hot->draining)
		return;
	f->hook_offerers += (uint32_t)sign;
	for (unsigned int k = 0; k < PV_HOOK_COUNT; k++)
		if (hot->hooks & SCHED_HOOK_BIT(k))
			f->hook_hosts[k] += (uint32_t)sign;
}

static void host_describe(struct sched_fleet *f, struct sched_host_hot *hot,
			  const struct sched_host *h)
{
	count_hooks(f, hot, -1);
	f->total_cpus += h->cpus;
	f->total_cpus -= hot->cpus;
	f->total_memory_mib += h->memory_mib;
	f->total_memory_mib -= hot->memory_mib;
	hot->memory_mib = h->memory_mib;
	hot->disk_gib = h->disk_gib;
	hot->cpus = h->cpus;
	hot->max_guests = h->max_guests;
	hot->hooks = h->hooks;
	hot->abi_versions = h->abi_versions;
	hot->kvm_features = h->kvm_features;
	hot->kinds = h->kinds ? h->kinds : SCHED_KINDS_ALL;
	hot->platforms = h->platforms;
	hot->state = (uint8_t)h->state;
	hot->cordoned = h->cordoned;
	hot->draining = h->draining;
	hot->emulated_devices = h->emulated_devices;
	hot->linux_tcg = h->linux_tcg;
	hot->exit_cost_ns = h->exit_cost_ns;
	count_hooks(f, hot, 1);
}

static int64_t rec_exits(const struct sched_guest_rec *r, const struct sched_host_hot *h)
{
	return sched_exits_milli(r->hooks_required | r->hooks_preferred, &r->stats,
				 sched_usable_hooks(h->hooks, h->abi_versions, r->abi_version));
}

int sched_fleet_host_add(struct sched_fleet *f, const struct sched_host *h, struct pvm_err *err)
{
	uint32_t i;
	int rc;

	rc = sched_host_validate(h, err);
	if (rc)
		return pvm_err_prefix(err, "host");
	if (sched_fleet_find_host(f, h->id) >= 0)
		return pvm_err_field(err, -EEXIST, "/id", "host \"%s\" already in the fleet",
				     h->id);
	if (f->nhosts == INT32_MAX)
		return pvm_err_set(err, -E2BIG, "too many hosts");
	if (f->nhosts == f->hosts_cap) {
		uint32_t ncap = f->hosts_cap ? f->hosts_cap * 2 : 16;
		struct sched_host_hot *hot = realloc(f->hot, ncap * sizeof(*hot));
		struct sched_host_cold *cold;

		if (!hot)
			return pvm_err_set(err, -ENOMEM, "out of memory");
		f->hot = hot;
		cold = realloc(f->cold, ncap * sizeof(*cold));
		if (!cold)
			return pvm_err_set(err, -ENOMEM, "out of memory");
		f->cold = cold;
		f->hosts_cap = ncap;
	}
	i = f->nhosts;
	rc = sched_map_put(&f->host_map, h->id, i);
	if (rc)
		return pvm_err_set(err, rc, "out of memory");
	memset(&f->hot[i], 0, sizeof(f->hot[i]));
	f->hot[i].state = SCHED_HOST_DOWN; /* counted by nothing until described */
	host_describe(f, &f->hot[i], h);
	f->hot[i].id_hash = sched_id_hash(h->id);
	f->cold[i].h = *h;
	f->cold[i].first_guest = -1;
	if (sched_index_add(f, i))
		f->index_stale = true;
	f->nhosts++;
	return 0;
}

int sched_fleet_host_update(struct sched_fleet *f, const struct sched_host *h, struct pvm_err *err)
{
	int64_t i;
	int rc;

	rc = sched_host_validate(h, err);
	if (rc)
		return pvm_err_prefix(err, "host");
	i = sched_fleet_find_host(f, h->id);
	if (i < 0)
		return pvm_err_field(err, -ENOENT, "/id", "no host \"%s\"", h->id);
	/* Its class may change with its description: out of the index, and in
	 * again once described. */
	sched_index_remove(f, (uint32_t)i);
	host_describe(f, &f->hot[i], h);
	f->cold[i].h = *h;
	/* The exits a guest causes depend on the hooks its host offers. */
	f->hot[i].exits_milli = 0;
	for (int32_t gi = f->cold[i].first_guest; gi >= 0; gi = f->guests[gi].next) {
		f->guests[gi].exits_milli = rec_exits(&f->guests[gi], &f->hot[i]);
		f->hot[i].exits_milli += f->guests[gi].exits_milli;
	}
	if (sched_index_add(f, (uint32_t)i))
		f->index_stale = true;
	return 0;
}

int sched_fleet_host_remove(struct sched_fleet *f, const char *host_id, struct pvm_err *err)
{
	int64_t i = sched_fleet_find_host(f, host_id);
	uint32_t last;

	if (i < 0)
		return pvm_err_set(err, -ENOENT, "no host \"%s\"", host_id ? host_id : "");
	if (f->hot[i].nguests)
		return pvm_err_set(err, -EBUSY, "host \"%s\" still has %u guests", host_id,
				   f->hot[i].nguests);
	sched_map_del(&f->host_map, f->cold[i].h.id);
	sched_index_remove(f, (uint32_t)i);
	f->total_cpus -= f->hot[i].cpus;
	f->total_memory_mib -= f->hot[i].memory_mib;
	count_hooks(f, &f->hot[i], -1);
	last = f->nhosts - 1;
	if ((uint32_t)i != last) {
		/* Keep the host array dense for the scan: the last host moves. */
		f->hot[i] = f->hot[last];
		f->cold[i] = f->cold[last];
		sched_index_renumber(f, (uint32_t)i);
		sched_map_set(&f->host_map, f->cold[i].h.id, (uint32_t)i);
		for (int32_t gi = f->cold[i].first_guest; gi >= 0; gi = f->guests[gi].next)
			f->guests[gi].host = (int32_t)i;
	}
	f->nhosts--;
	return 0;
}

int sched_fleet_host_evict(struct sched_fleet *f, const char *host_id)
{
	int64_t i = sched_fleet_find_host(f, host_id);
	int n = 0;

	if (i < 0)
		return -ENOENT;
	while (f->cold[i].first_guest >= 0) {
		sched_fleet_unbind(f, f->guests[f->cold[i].first_guest].id);
		n++;
	}
	return n;
}

const struct sched_host *sched_fleet_host(const struct sched_fleet *f, const char *host_id)
{
	int64_t i = sched_fleet_find_host(f, host_id);

	return i < 0 ? NULL : &f->cold[i].h;
}

unsigned int sched_fleet_nhosts(const struct sched_fleet *f)
{
	return f->nhosts;
}

const struct sched_host *sched_fleet_host_at(const struct sched_fleet *f, unsigned int i)
{
	return i < f->nhosts ? &f->cold[i].h : NULL;
}

int sched_fleet_host_usage(const struct sched_fleet *f, const char *host_id,
			   struct sched_usage *out)
{
	int64_t i = sched_fleet_find_host(f, host_id);
	const struct sched_host_hot *h;

	if (i < 0)
		return -ENOENT;
	h = &f->hot[i];
	out->vcpus = h->used_vcpus;
	out->memory_mib = h->used_memory_mib;
	out->disk_gib = h->used_disk_gib;
	out->guests = h->nguests;
	out->exits_per_s = (double)h->exits_milli / SCHED_MILLI;
	out->exit_load = out->exits_per_s / sched_exit_capacity(h, &f->policy);
	return 0;
}

/* ---- guests ------------------------------------------------------------ */

static void host_link(struct sched_fleet *f, int32_t gi, int32_t hi)
{
	struct sched_guest_rec *r = &f->guests[gi];
	struct sched_host_hot *h = &f->hot[hi];

	r->host = hi;
	r->prev = -1;
	r->next = f->cold[hi].first_guest;
	if (r->next >= 0)
		f->guests[r->next].prev = gi;
	f->cold[hi].first_guest = gi;
	r->exits_milli = rec_exits(r, h);
	f->total_used_vcpus += r->vcpus;
	f->total_used_memory_mib += r->memory_mib;
	h->used_vcpus += r->vcpus;
	h->used_memory_mib += r->memory_mib;
	h->used_disk_gib += r->disk_gib;
	h->exits_milli += r->exits_milli;
	h->nguests++;
	sched_index_refresh(f, (uint32_t)hi);
}

static void host_unlink(struct sched_fleet *f, int32_t gi)
{
	struct sched_guest_rec *r = &f->guests[gi];
	struct sched_host_hot *h = &f->hot[r->host];

	if (r->prev >= 0)
		f->guests[r->prev].next = r->next;
	else
		f->cold[r->host].first_guest = r->next;
	if (r->next >= 0)
		f->guests[r->next].prev = r->prev;
	f->total_used_vcpus -= r->vcpus;
	f->total_used_memory_mib -= r->memory_mib;
	h->used_vcpus -= r->vcpus;
	h->used_memory_mib -= r->memory_mib;
	h->used_disk_gib -= r->disk_gib;
	h->exits_milli -= r->exits_milli;
	h->nguests--;
	sched_index_refresh(f, (uint32_t)r->host);
}

static int group_join(struct sched_fleet *f, int32_t gi, struct pvm_err *err)
{
	struct sched_guest_rec *r = &f->guests[gi];
	int64_t k;
	struct sched_group *grp;

	r->group = -1;
	r->gprev = r->gnext = -1;
	if (!r->anti_affinity[0])
		return 0;
	k = sched_map_get(&f->group_map, r->anti_affinity);
	if (k < 0) {
		int rc;

		if (f->free_group >= 0) {
			k = f->free_group;
			f->free_group = f->groups[k].first_guest;
		} else {
			if (f->ngroups == f->groups_cap) {
				uint32_t ncap = f->groups_cap ? f->groups_cap * 2 : 16;
				struct sched_group *g = realloc(f->groups, ncap * sizeof(*g));

				if (!g)
					return pvm_err_set(err, -ENOMEM, "out of memory");
				f->groups = g;
				f->groups_cap = ncap;
			}
			k = f->ngroups++;
		}
		grp = &f->groups[k];
		memcpy(grp->name, r->anti_affinity, sizeof(grp->name));
		grp->first_guest = -1;
		grp->nguests = 0;
		rc = sched_map_put(&f->group_map, grp->name, (uint32_t)k);
		if (rc) {
			grp->first_guest = f->free_group;
			f->free_group = (int32_t)k;
			return pvm_err_set(err, rc, "out of memory");
		}
	}
	grp = &f->groups[k];
	r->group = (int32_t)k;
	r->gnext = grp->first_guest;
	if (r->gnext >= 0)
		f->guests[r->gnext].gprev = gi;
	grp->first_guest = gi;
	grp->nguests++;
	return 0;
}

static void group_leave(struct sched_fleet *f, int32_t gi)
{
	struct sched_guest_rec *r = &f->guests[gi];
	struct sched_group *grp;

	if (r->group < 0)
		return;
	grp = &f->groups[r->group];
	if (r->gprev >= 0)
		f->guests[r->gprev].gnext = r->gnext;
	else
		grp->first_guest = r->gnext;
	if (r->gnext >= 0)
		f->guests[r->gnext].gprev = r->gprev;
	if (--grp->nguests == 0) {
		sched_map_del(&f->group_map, grp->name);
		grp->first_guest = f->free_group;
		f->free_group = r->group;
	}
	r->group = -1;
}

/* Packs g into record r, its selector terms into their own allocation. */
static int guest_store(struct sched_guest_rec *r, const struct sched_guest *g, struct pvm_err *err)
{
	struct sched_selector_term *sel = NULL;

	if (g->nselector) {
		sel = malloc(g->nselector * sizeof(*sel));
		if (!sel)
			return pvm_err_set(err, -ENOMEM, "out of memory");
		memcpy(sel, g->selector, g->nselector * sizeof(*sel));
	}
	free(r->sel);
	r->sel = sel;
	memcpy(r->id, g->id, sizeof(r->id));
	memcpy(r->anti_affinity, g->anti_affinity, sizeof(r->anti_affinity));
	r->memory_mib = g->memory_mib;
	r->disk_gib = g->disk_gib;
	r->vcpus = g->vcpus;
	r->kind = (uint32_t)g->kind;
	r->hooks_required = g->hooks_required;
	r->hooks_preferred = g->hooks_preferred;
	r->abi_version = g->abi_version;
	r->kvm_features_required = g->kvm_features_required;
	r->platforms = g->platforms;
	r->nselector = g->nselector;
	r->needs_emulated = g->needs_emulated;
	r->stats = g->stats;
	return 0;
}

void sched_fleet_guest_spec(const struct sched_fleet *f, int32_t gi, struct sched_guest *out)
{
	const struct sched_guest_rec *r = &f->guests[gi];

	sched_guest_init(out);
	memcpy(out->id, r->id, sizeof(out->id));
	memcpy(out->anti_affinity, r->anti_affinity, sizeof(out->anti_affinity));
	out->memory_mib = r->memory_mib;
	out->disk_gib = r->disk_gib;
	out->vcpus = r->vcpus;
	out->kind = (enum sched_kind)r->kind;
	out->hooks_required = r->hooks_required;
	out->hooks_preferred = r->hooks_preferred;
	out->abi_version = r->abi_version;
	out->kvm_features_required = r->kvm_features_required;
	out->platforms = r->platforms;
	out->nselector = r->nselector;
	out->needs_emulated = r->needs_emulated;
	out->stats = r->stats;
	if (r->nselector)
		memcpy(out->selector, r->sel, r->nselector * sizeof(*r->sel));
}

int sched_fleet_bind(struct sched_fleet *f, const struct sched_guest *g, const char *host_id,
		     struct pvm_err *err)
{
	int64_t hi;
	int32_t gi;
	struct sched_guest_rec *r;
	int rc;

	rc = sched_guest_validate(g, err);
	if (rc)
		return pvm_err_prefix(err, "guest");
	hi = sched_fleet_find_host(f, host_id);
	if (hi < 0)
		return pvm_err_set(err, -ENOENT, "no host \"%s\"", host_id ? host_id : "");
	if (sched_fleet_find_guest(f, g->id) >= 0)
		return pvm_err_field(err, -EEXIST, "/id", "guest \"%s\" is already bound", g->id);
	if (f->free_guest >= 0) {
		gi = f->free_guest;
		f->free_guest = f->guests[gi].next;
	} else {
		if (f->guests_used == INT32_MAX)
			return pvm_err_set(err, -E2BIG, "too many guests");
		if (f->guests_used == f->guests_cap) {
			uint32_t ncap = f->guests_cap ? f->guests_cap * 2 : 64;
			struct sched_guest_rec *n = realloc(f->guests, ncap * sizeof(*n));

			if (!n)
				return pvm_err_set(err, -ENOMEM, "out of memory");
			f->guests = n;
			f->guests_cap = ncap;
		}
		gi = (int32_t)f->guests_used++;
		f->guests[gi].sel = NULL;
	}
	r = &f->guests[gi];
	r->host = -1;
	rc = guest_store(r, g, err);
	if (rc)
		goto out_free;
	rc = sched_map_put(&f->guest_map, g->id, (uint32_t)gi);
	if (rc) {
		pvm_err_set(err, rc, "out of memory");
		goto out_free;
	}
	rc = group_join(f, gi, err);
	if (rc) {
		sched_map_del(&f->guest_map, g->id);
		goto out_free;
	}
	host_link(f, gi, (int32_t)hi);
	f->nguests++;
	return 0;
out_free:
	free(r->sel);
	r->sel = NULL;
	r->host = -1;
	r->next = f->free_guest;
	f->free_guest = gi;
	return rc;
}

int sched_fleet_unbind(struct sched_fleet *f, const char *guest_id)
{
	int64_t gi = sched_fleet_find_guest(f, guest_id);
	struct sched_guest_rec *r;

	if (gi < 0)
		return -ENOENT;
	r = &f->guests[gi];
	host_unlink(f, (int32_t)gi);
	group_leave(f, (int32_t)gi);
	sched_map_del(&f->guest_map, r->id);
	free(r->sel);
	r->sel = NULL;
	r->host = -1;
	r->id[0] = '\0';
	r->next = f->free_guest;
	f->free_guest = (int32_t)gi;
	f->nguests--;
	return 0;
}

int sched_fleet_guest_update(struct sched_fleet *f, const struct sched_guest *g,
			     struct pvm_err *err)
{
	int64_t gi;
	int32_t hi;
	struct sched_guest_rec *r;
	int rc;

	rc = sched_guest_validate(g, err);
	if (rc)
		return pvm_err_prefix(err, "guest");
	gi = sched_fleet_find_guest(f, g->id);
	if (gi < 0)
		return pvm_err_field(err, -ENOENT, "/id", "guest \"%s\" is not bound", g->id);
	r = &f->guests[gi];
	hi = r->host;
	host_unlink(f, (int32_t)gi);
	group_leave(f, (int32_t)gi);
	rc = guest_store(r, g, err);
	if (!rc)
		rc = group_join(f, (int32_t)gi, err);
	/* On failure the record keeps whichever spec it holds; it stays bound. */
	host_link(f, (int32_t)gi, hi);
	return rc;
}

int sched_fleet_guest_stats(struct sched_fleet *f, const char *guest_id,
			    const struct sched_hook_stats *stats)
{
	int64_t gi = sched_fleet_find_guest(f, guest_id);
	int32_t hi;

	if (gi < 0)
		return -ENOENT;
	hi = f->guests[gi].host;
	host_unlink(f, (int32_t)gi);
	f->guests[gi].stats = *stats;
	host_link(f, (int32_t)gi, hi);
	return 0;
}

const char *sched_fleet_guest_host(const struct sched_fleet *f, const char *guest_id)
{
	int64_t gi = sched_fleet_find_guest(f, guest_id);

	return gi < 0 ? NULL : f->cold[f->guests[gi].host].h.id;
}

unsigned int sched_fleet_nguests(const struct sched_fleet *f)
{
	return f->nguests;
}

void sched_fleet_move(struct sched_fleet *f, int32_t gi, int32_t to)
{
	host_unlink(f, gi);
	host_link(f, gi, to);
}

void sched_fleet_detach(struct sched_fleet *f, int32_t gi)
{
	int32_t hi = f->guests[gi].host;

	host_unlink(f, gi);
	group_leave(f, gi);
	f->guests[gi].host = hi;
}

void sched_fleet_attach(struct sched_fleet *f, int32_t gi, int32_t hi)
{
	/* Joining a group the guest just left needs no allocation unless the
	 * group vanished and the map must grow; then the guest stays out of it. */
	group_join(f, gi, NULL);
	host_link(f, gi, hi);
}
