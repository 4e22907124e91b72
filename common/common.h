/* SPDX-License-Identifier: MIT */
/*
 * common: the utilities every pvm module shares: logging, errors carried up
 * the stack, strict JSON over json-c, layered configuration and monotonic
 * time. Public names carry the prefix pvm_.
 */
#ifndef PVM_COMMON_H
#define PVM_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#define PVM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ------------------------------------------------------------ */

/*
 * An error travels up the stack as a negative errno return value plus, where
 * the caller passed one, a struct pvm_err holding the message and the field
 * it concerns (a JSON pointer such as "/spec/memory_mib", or a config key).
 * Each layer may prefix context: "load config: /etc/pvm.ini: line 3: ...".
 */
#define PVM_ERR_MSG_MAX	  512
#define PVM_ERR_FIELD_MAX 128

struct pvm_err {
	int code; /* negative errno, 0 when unset */
	char msg[PVM_ERR_MSG_MAX];
	char field[PVM_ERR_FIELD_MAX];
};

/* Sets code and message (printf-style); returns code so callers can
 * `return pvm_err_set(err, -EINVAL, "...")`. err may be NULL. */
int pvm_err_set(struct pvm_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As pvm_err_set, and records the field the error is about. */
int pvm_err_field(struct pvm_err *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "context: " to the message; returns err->code. */
int pvm_err_prefix(struct pvm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pvm_err_clear(struct pvm_err *err);

/* ---- logging ----------------------------------------------------------- */

enum pvm_log_level {
	PVM_LOG_ERROR = 0,
	PVM_LOG_WARN,
	PVM_LOG_INFO,
	PVM_LOG_DEBUG,
};

enum pvm_log_format {
	PVM_LOG_TEXT = 0,
	PVM_LOG_JSON,	 /* one JSON object per line */
	PVM_LOG_JOURNAL, /* structured entries to journald */
};

/* Process-wide; call once at start-up. Safe to log before (defaults: info,
 * text, ident "pvm"). ident is copied. */
void pvm_log_init(const char *ident, enum pvm_log_level level, enum pvm_log_format format);
void pvm_log_set_level(enum pvm_log_level level);
enum pvm_log_level pvm_log_get_level(void);
/* Parses "error|warn|info|debug" and "text|json|journal". */
int pvm_log_parse_level(const char *s, enum pvm_log_level *out);
int pvm_log_parse_format(const char *s, enum pvm_log_format *out);
/* Redirects text/json output to fd (tests); -1 restores stderr. */
void pvm_log_set_fd(int fd);

void pvm_log(enum pvm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pvm_logv(enum pvm_log_level level, const char *fmt, va_list ap);

#define pvm_log_error(...) pvm_log(PVM_LOG_ERROR, __VA_ARGS__)
#define pvm_log_warn(...)  pvm_log(PVM_LOG_WARN, __VA_ARGS__)
#define pvm_log_info(...)  pvm_log(PVM_LOG_INFO, __VA_ARGS__)
#define pvm_log_debug(...)                                                                         \
	do {                                                                                       \
		if (pvm_log_get_level() >= PVM_LOG_DEBUG)                                          \
			pvm_log(PVM_LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)

/* ---- strict JSON ------------------------------------------------------- */

struct pvm_json_limits {
	size_t max_bytes; /* whole document */
	int max_depth;	  /* nesting of objects and arrays */
};

/* 1 MiB, depth 32: the REST API's defaults. */
extern const struct pvm_json_limits pvm_json_default_limits;

/*
 * Parses exactly one JSON value from buf[0..len): strict syntax, valid UTF-8,
 * no trailing garbage, within limits. On success *out owns a reference.
 */
int pvm_json_parse(const char *buf, size_t len, const struct pvm_json_limits *limits,
		   json_object **out, struct pvm_err *err);

enum pvm_json_type {
	PVM_JSON_STRING = 1,
	PVM_JSON_INT,
	PVM_JSON_DOUBLE, /* accepts integers too */
	PVM_JSON_BOOL,
	PVM_JSON_OBJECT,
	PVM_JSON_ARRAY,
};

/*
 * One field of an object schema. Limits apply by type: min/max for INT,
 * min_len/max_len (bytes) for STRING, max_len (elements) for ARRAY.
 * A max of 0 means "no bound" for max_len; INT bounds are always applied,
 * so use INT64_MIN/INT64_MAX for "any". The same table checks a request
 * and writes the API's OpenAPI schema, so every rule here is in both.
 */
struct pvm_json_field {
	const char *name;
	enum pvm_json_type type;
	bool required;
	bool nullable;
	int64_t min;
	int64_t max;
	size_t min_len;
	size_t max_len;
	/* STRING: the only values allowed, name_of(0), name_of(1)... until NULL. */
	const char *(*name_of)(unsigned i);
	/* STRING: a name, of PVM_JSON_NAME_CHARS only (PVM_JSON_NAME_PATTERN). */
	bool name_chars;
	/* OBJECT: its members, checked as an object when set. */
	const struct pvm_json_field *fields;
	size_t nfields;
	/* ARRAY: what each element is (its name unused), checked when set. */
	const struct pvm_json_field *item;
	bool unique;	 /* ARRAY of strings: no value twice */
	const char *doc; /* what it means, for the OpenAPI document */
};

/* A name's bytes: letters, digits, '.', '_' and '-'; and as a pattern. */
#define PVM_JSON_NAME_CHARS   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define PVM_JSON_NAME_PATTERN "^[A-Za-z0-9._-]*$"

/*
 * Checks obj against fields: obj must be an object; every key must be known
 * (else "unknown field"), have the right type, be within its limits; every
 * required field must be present. `path` is the JSON pointer of obj ("" for
 * the root) and prefixes the field named in err.
 */
int pvm_json_check(json_object *obj, const char *path, const struct pvm_json_field *fields,
		   size_t nfields, struct pvm_err *err);

/* Typed getters after pvm_json_check; they return -ENOENT when absent or
 * null, leaving *out untouched (so callers preset defaults). */
int pvm_json_get_str(json_object *obj, const char *name, const char **out);
int pvm_json_get_int(json_object *obj, const char *name, int64_t *out);
int pvm_json_get_double(json_object *obj, const char *name, double *out);
int pvm_json_get_bool(json_object *obj, const char *name, bool *out);
const char *pvm_json_type_name(enum pvm_json_type type);

/* ---- configuration ----------------------------------------------------- */

/*
 * Layered configuration: built-in default < INI file < PVM_* environment <
 * command-line flag. A key "section.name" appears as `name =` under
 * `[section]` in the INI file, as PVM_SECTION_NAME in the environment and as
 * --section-name on the command line (dashes and underscores are the same).
 * A key without a section ("state_dir") is a top-level INI key.
 */
enum pvm_config_source {
	PVM_CONFIG_DEFAULT = 0,
	PVM_CONFIG_FILE,
	PVM_CONFIG_ENV,
	PVM_CONFIG_FLAG,
};

struct pvm_config_key {
	const char *key;  /* "log.level" */
	const char *def;  /* NULL: unset */
	const char *help; /* one line, for --help */
	bool is_flag;	  /* boolean switch: "--foo" alone means true */
};

struct pvm_config {
	const struct pvm_config_key *keys;
	size_t nkeys;
	char **values;			/* owned; NULL when unset */
	enum pvm_config_source *source; /* where each value came from */
	char **warnings;		/* unknown PVM_* variables, owned */
	size_t nwarnings;
};

int pvm_config_init(struct pvm_config *cfg, const struct pvm_config_key *keys, size_t nkeys);
void pvm_config_free(struct pvm_config *cfg);
/* Reads an INI file; unknown sections or keys are errors naming file and line. */
int pvm_config_load_file(struct pvm_config *cfg, const char *path, struct pvm_err *err);
/* Applies PVM_* variables from envp (NULL-terminated, as environ). Unknown
 * PVM_* names are collected in cfg->warnings, not errors: the environment is
 * shared with other tools. */
int pvm_config_load_env(struct pvm_config *cfg, char *const *envp, struct pvm_err *err);
/*
 * Applies --key value / --key=value flags from argv[0..argc). Non-flag
 * arguments are kept in order in argv[0..*nrest); "--" ends flags. An
 * unknown flag is an error.
 */
int pvm_config_load_args(struct pvm_config *cfg, int argc, char **argv, int *nrest,
			 struct pvm_err *err);
int pvm_config_set(struct pvm_config *cfg, const char *key, const char *value,
		   enum pvm_config_source source, struct pvm_err *err);
const char *pvm_config_get(const struct pvm_config *cfg, const char *key);
int pvm_config_get_int(const struct pvm_config *cfg, const char *key, int64_t min, int64_t max,
		       int64_t *out, struct pvm_err *err);
int pvm_config_get_bool(const struct pvm_config *cfg, const char *key, bool *out,
			struct pvm_err *err);
enum pvm_config_source pvm_config_source_of(const struct pvm_config *cfg, const char *key);
/* Prints one "  --flag VALUE  help (default: x)" line per key. */
void pvm_config_usage(const struct pvm_config *cfg, FILE *fp);

/* ---- numbers ----------------------------------------------------------- */

/* Strict decimal parse of a whole string into [min, max]. */
int pvm_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* ---- guest sizes --------------------------------------------------------- */

/* The bounds of a guest spec's sizes: the API enforces them, pvmctl checks
 * its flags against them, the OpenAPI document states them. */
#define PVM_GUEST_VCPUS_MAX	 256
#define PVM_GUEST_MEMORY_MIB_MAX (1LL << 22) /* 4 TiB */
#define PVM_GUEST_DISK_GIB_MAX	 (1LL << 16)

/* ---- secret files ------------------------------------------------------ */

/* Opens path for a bearer token: created or truncated, mode 0600 even when it
 * existed, never through a symbolic link. Returns the fd or a negative errno. */
int pvm_secret_file_open(const char *path, struct pvm_err *err);
/* Writes secret and a newline to fd and syncs it to disk. */
int pvm_secret_file_write(int fd, const char *path, const char *secret, struct pvm_err *err);

/* ---- KVM pv features --------------------------------------------------- */

/* The kernel's name of KVM pv feature bit `bit` (CPUID 0x40000001 EAX), or
 * NULL for an unnamed bit; and back, -ENOENT for an unknown name. */
const char *pvm_kvm_feature_name(unsigned bit);
int pvm_kvm_feature_bit(const char *name);

/* ---- virtio devices ------------------------------------------------------ */

/* The name of virtio device type `id` (1..31, virtio 1.2 section 5), or NULL
 * for an unnamed one. */
const char *pvm_virtio_device_name(unsigned id);

/* ---- hv platforms -------------------------------------------------------- */

/*
 * What runs a guest's VMM (hv/hv.h's HV_PLATFORM_*, docs/platforms.md), by the
 * names pvm-vmm --platform takes: the vocabulary hosts offer, guest specs
 * require and the API, the store and the scheduler share (they do not depend
 * on hv; hv's hv_platform_name/parse read this table too). The numbers are
 * bits of a platform set; hv's ids are these plus one (auto is 0).
 */
enum pvm_platform {
	PVM_PLATFORM_KVM = 0, /* /dev/kvm */
	PVM_PLATFORM_PROCESS, /* a confined host process, no /dev/kvm needed */
	PVM_PLATFORM_COUNT
};

#define PVM_PLATFORM_BIT(p) (1u << (p))
#define PVM_PLATFORMS_ALL   ((1u << PVM_PLATFORM_COUNT) - 1)

/* "kvm" or "process"; NULL out of range. And back: -ENOENT for an unknown name. */
const char *pvm_platform_name(unsigned id);
int pvm_platform_id(const char *name);
/* A platform set as "kvm,process" into buf (always NUL-terminated; "" for the
 * empty set); returns the length it needed, as snprintf. */
int pvm_platform_format(uint32_t bits, char *buf, size_t len);
/* The set a JSON array of platform names makes (unknown names and anything
 * but an array count for nothing): stored capabilities, read back. */
uint32_t pvm_platform_set(json_object *arr);

/* ---- the statistics report ---------------------------------------------- */

/*
 * What a VMM measured about its guest, on its way to the controller: per-hook
 * counters, the capabilities the guest negotiated, vCPU exits by reason and
 * the platform (docs/api.md, "Heartbeat and report"). hv/ fills it from its
 * counters and encodes it as its statistics' "report"; pvmd decodes that and
 * encodes it into POST /v1/guests/{id}/reports; the API decodes the body with
 * the same decoder. One struct and one encoder/decoder pair, so a field
 * renamed on one side is a build error, never a silent zero on the other.
 * About 30 KiB: allocate it.
 */
#define PVM_REPORT_NAME_MAX    64  /* a hook, capability or exit reason, with NUL */
#define PVM_REPORT_REASON_MAX  256 /* a refused capability's reason, with NUL */
#define PVM_REPORT_HOOKS_MAX   16  /* hook_stats entries: each hook once */
#define PVM_REPORT_CAPS_MAX    64
#define PVM_REPORT_MAP_MAX     32 /* entries of a named map: exits, the agent's maps */
#define PVM_REPORT_BUCKETS_MAX 64 /* service-time histogram buckets */

struct pvm_report_hook {
	unsigned int hook; /* PV_HOOK_* bit (hv/pv_abi.h) */
	int64_t calls;
	int64_t doorbells;
	int64_t bytes;
	int64_t errors;
	int64_t exits_avoided; /* exits the emulated twin would have taken */
	bool has_histogram;
	int64_t service_ns_total;
	size_t nbuckets;
	int64_t service_ns_log2[PVM_REPORT_BUCKETS_MAX]; /* bucket b: [2^b, 2^(b+1)) ns */
};

struct pvm_report_cap {
	char name[PVM_REPORT_NAME_MAX]; /* a hook's name, or "kvm:NAME" */
	bool accepted;			/* else refused */
	int64_t abi_version;
	char reason[PVM_REPORT_REASON_MAX]; /* "" when none was given */
};

struct pvm_report_exit {
	char reason[PVM_REPORT_NAME_MAX]; /* pvm_report_name_ok; "total" is the VMM's sum */
	int64_t count;
};

/* A member is carried when its has_ flag is set (an empty list is carried). */
struct pvm_report {
	bool has_platform, has_hooks, has_caps, has_exits;
	enum pvm_platform platform;
	size_t nhooks, ncaps, nexits;
	struct pvm_report_hook hooks[PVM_REPORT_HOOKS_MAX];
	struct pvm_report_cap caps[PVM_REPORT_CAPS_MAX];
	struct pvm_report_exit exits[PVM_REPORT_MAP_MAX];
};

/* The report's members as pvm_json_field initializers: pvm_report_fields, and
 * the schema of a document that carries the report beside members of its own. */
#define PVM_REPORT_FIELDS                                                                          \
	{.name = "platform",                                                                       \
	 .type = PVM_JSON_STRING,                                                                  \
	 .min_len = 1,                                                                             \
	 .max_len = 32,                                                                            \
	 .name_of = pvm_platform_name,                                                             \
	 .doc = "the platform the guest's VMM runs on"},                                           \
	    PVM_REPORT_FIELD_("capabilities", PVM_JSON_ARRAY, 0, PVM_REPORT_CAPS_MAX),             \
	    PVM_REPORT_FIELD_("hook_stats", PVM_JSON_ARRAY, 0, PVM_REPORT_HOOKS_MAX),              \
	    PVM_REPORT_FIELD_("exits", PVM_JSON_OBJECT, 0, 0)
#define PVM_REPORT_FIELD_(n, t, min, max)                                                          \
	{                                                                                          \
		.name = (n), .type = (t), .min_len = (min), .max_len = (max)                       \
	}

extern const struct pvm_json_field pvm_report_fields[];
extern const size_t pvm_nreport_fields;

/* Adds the members r carries to obj (an object). 0, or -ENOMEM. */
int pvm_report_encode(const struct pvm_report *r, json_object *obj);
/* A hook's histogram as a new object, NULL when it has none. */
json_object *pvm_report_histogram_json(const struct pvm_report_hook *h);
/*
 * Decodes the report members of obj into *out (zeroed first). obj must match
 * fields: pvm_report_fields when NULL, else the caller's schema, which embeds
 * PVM_REPORT_FIELDS and whose other members the caller reads itself. Every
 * unknown field, wrong type, negative count, unknown hook or platform, hook
 * named twice or name out of shape is -EINVAL (-ERANGE for a number out of
 * range) naming the field in err as a JSON pointer under path ("" for a
 * document). Duplicate keys are pvm_json_parse's to refuse.
 */
int pvm_report_decode(json_object *obj, const char *path, const struct pvm_json_field *fields,
		      size_t nfields, struct pvm_report *out, struct pvm_err *err);

/* A name in a report's maps: 1..PVM_REPORT_NAME_MAX-1 bytes of [a-z0-9_]. */
bool pvm_report_name_ok(const char *s);
/*
 * Checks a named map: an object of at most PVM_REPORT_MAP_MAX entries whose
 * names pass pvm_report_name_ok and whose values check accepts (NULL:
 * non-negative integers). path is the map's JSON pointer.
 */
int pvm_report_map_check(json_object *o, const char *path,
			 int (*check)(json_object *v, const char *path, struct pvm_err *err),
			 struct pvm_err *err);

/* ---- time -------------------------------------------------------------- */

uint64_t pvm_now_ns(void);	/* CLOCK_MONOTONIC */
uint64_t pvm_wall_ns(void);	/* CLOCK_REALTIME, for timestamps only */
void pvm_sleep_ns(uint64_t ns); /* restarts after signals */

/* ---- string builder ---------------------------------------------------- */

/* A growable NUL-terminated buffer; used by /metrics, logs and the CLI. On
 * allocation failure it latches an error and further appends are no-ops. */
struct pvm_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

void pvm_buf_init(struct pvm_buf *b);
void pvm_buf_free(struct pvm_buf *b);
void pvm_buf_reset(struct pvm_buf *b);
int pvm_buf_append(struct pvm_buf *b, const void *data, size_t len);
int pvm_buf_printf(struct pvm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s JSON-escaped (without the surrounding quotes). */
int pvm_buf_json_escape(struct pvm_buf *b, const char *s);
/* Hands the buffer to the caller (NUL-terminated, never NULL unless failed). */
char *pvm_buf_steal(struct pvm_buf *b);

#endif /* PVM_COMMON_H */
