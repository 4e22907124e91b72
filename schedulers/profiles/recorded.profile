pvm-sim-profile 1
platform process
recorded bench_pvaware 2026-12-04T15:07Z, 2 CPUs online, each workload alone on one pinned CPU
work console pv units_per_s=113356882.03600629 cpu_per_s=0.99565414084047488 exits_per_s=27796.402565013952 hook_calls_per_s=27796.402565013952
work console emulated units_per_s=30760.202185996728 cpu_per_s=0.99543078849630295 exits_per_s=32041.148751552751 hook_calls_per_s=0.99344390069491295
work block pv units_per_s=58254.355681953755 cpu_per_s=0.99406092040520111 exits_per_s=29113.260988091206 hook_calls_per_s=29113.260988091206
work block emulated units_per_s=2848.5416813326733 cpu_per_s=0.99802339756351344 exits_per_s=35515.915101780622 hook_calls_per_s=0.99404720872859897
work clock pv units_per_s=83396798.119770601 cpu_per_s=0.99426743615950675 exits_per_s=0.99426743615950675 hook_calls_per_s=0.99426743615950675
work clock emulated units_per_s=11917.269475975165 cpu_per_s=0.99853187406974742 exits_per_s=35708.9291267726 hook_calls_per_s=0.99257641557628973
work compute emulated units_per_s=542978200.18912995 cpu_per_s=0.9980778341081773 exits_per_s=0.99410142839459903 hook_calls_per_s=0.99410142839459903
