/* SPDX-License-Identifier: MIT */
/*
 * The plugin tables: a policy names plugins, the pipeline calls them through
 * these tables. Adding a filter or scorer is one file plus one line here.
 */
#include "schedulers/internal.h"

static const struct sched_filter_plugin *const filters[SCHED_FILTER_COUNT] = {
    [SCHED_FILTER_CAPACITY] = &sched_filter_capacity,
    [SCHED_FILTER_STATE] = &sched_filter_state,
    [SCHED_FILTER_PV] = &sched_filter_pv,
    [SCHED_FILTER_LABELS] = &sched_filter_labels,
    [SCHED_FILTER_ANTI_AFFINITY] = &sched_filter_anti_affinity,
    [SCHED_FILTER_MAX_GUESTS] = &sched_filter_max_guests,
};

static const struct sched_scorer_plugin *const scorers[SCHED_SCORER_COUNT] = {
    [SCHED_SCORER_BINPACK] = &sched_scorer_binpack,
    [SCHED_SCORER_SPREAD] = &sched_scorer_spread,
    [SCHED_SCORER_PV_AFFINITY] = &sched_scorer_pv_affinity,
    [SCHED_SCORER_EXIT_PRESSURE] = &sched_scorer_exit_pressure,
};

const struct sched_filter_plugin *sched_filter_plugin(enum sched_filter_id id)
{
	return (unsigned int)id < SCHED_FILTER_COUNT ? filters[id] : NULL;
}

const struct sched_scorer_plugin *sched_scorer_plugin(enum sched_scorer_id id)
{
	return (unsigned int)id < SCHED_SCORER_COUNT ? scorers[id] : NULL;
}
