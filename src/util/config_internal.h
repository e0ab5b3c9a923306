/*
 * util/config_internal.h — shared between config.c, config_keys.c and
 * config_toml.c only (the key table and the TOML subset parser). Not part of
 * the public contract; tests may include it.
 */
#ifndef UTIL_CONFIG_INTERNAL_H
#define UTIL_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/config.h"
#include "util/rc.h"

/* --- TOML subset ------------------------------------------------------------ */

enum toml_kind { TOML_STRING, TOML_INT, TOML_FLOAT, TOML_BOOL, TOML_ARRAY };

struct toml_val {
    enum toml_kind kind;
    char *s;     /* TOML_STRING: xmalloc'd, NUL-terminated */
    size_t slen; /* may contain NUL bytes (\u0000) */
    int64_t i;
    double d;
    bool b;
    struct toml_val *items; /* TOML_ARRAY: scalars only */
    size_t n;
    int line;
};

/* One item of a document, in file order: a table header or a key/value. */
struct toml_item {
    bool is_table;       /* [path] header */
    char *path;          /* full dotted path ("storage.s3.bucket") */
    struct toml_val val; /* key/value items only */
    int line;
};

struct toml_doc {
    struct toml_item *items;
    size_t n;
    size_t cap;
};

/* Parses text (len bytes) into doc (zero-initialised by the caller). file
 * names the source in messages ("arc.toml:12: ..."). Rejects duplicate keys,
 * duplicate tables and keys that are both a value and a table. RC_PARSE on
 * error (doc may hold partial items; free it either way). */
int config__toml_parse(const char *text, size_t len, const char *file, struct toml_doc *doc,
                       struct errbuf *eb) MUST_CHECK;
void config__toml_free(struct toml_doc *doc);

/* --- key table ------------------------------------------------------------- */

enum config_type { CT_STR, CT_INT, CT_BOOL, CT_ENUM, CT_LIST };

/* Value transformations of aliases. */
enum config_xform {
    XF_NONE = 0,
    XF_MS_TO_S,       /* integer milliseconds -> seconds, rounded up */
    XF_SIZE_TO_MB,    /* "1GB" / "512MB" / bytes -> MiB, rounded up */
    XF_GO_LOG_LEVEL,  /* also trace -> DEBUG, fatal/panic -> ERROR */
    XF_GO_LOG_FORMAT, /* json -> structured, console -> text */
    XF_BACKEND_DB,    /* storage.<backend>.database: applies only when
                         <backend> is the configured backend */
};

/* Flags: extra checks and properties. */
#define CF_SECRET 0x0001u   /* never printed or logged */
#define CF_NONEMPTY 0x0002u /* string must not be empty */
#define CF_CRON 0x0004u     /* 5-field cron expression */
#define CF_CRON_OR_EMPTY 0x0008u
#define CF_DBNAME 0x0010u    /* database name rule (SPEC §0.4) */
#define CF_MEMSIZE 0x0020u   /* "" or "8GB" / "512 MiB" / "50%" */
#define CF_TOKEN 0x0040u     /* "" or >= 32 characters */
#define CF_SORTKEYS 0x0080u  /* list of "measurement:col1,col2" */
#define CF_PATHS 0x0100u     /* list of URL paths starting with '/' */
#define CF_ORIGINS 0x0200u   /* list of "*" or http(s):// origins */
#define CF_AUTO_ZERO 0x0400u /* 0 means "derive" (see config.h) */
#define CF_NOSPACE 0x0800u   /* no whitespace allowed (host names) */

#define ALIAS_GO 0x1u /* Arc Go-generation name: has an ARC_ env form */
#define ALIAS_PY 0x2u /* Arc Python-generation file key: file only */

struct config_alias {
    const char *name; /* dotted, as in the file */
    unsigned flags;   /* ALIAS_* */
    enum config_xform xform;
};

#define CONFIG_MAX_ALIASES 4
#define CONFIG_MAX_LEGACY 3

struct config_key {
    const char *name; /* "storage.s3.bucket" */
    enum config_type type;
    size_t offset;              /* offsetof(struct config, ...) */
    const char *def;            /* default, as text (env syntax) */
    int64_t min, max;           /* CT_INT range, inclusive */
    const char *const *choices; /* CT_ENUM: canonical values, or "alias=canonical",
                                   NULL-terminated */
    unsigned flags;             /* CF_* */
    const char *doc;            /* one line for arc.toml */
    struct config_alias aliases[CONFIG_MAX_ALIASES];
    const char *legacy_env[CONFIG_MAX_LEGACY]; /* first present wins */
};

struct config_section_doc {
    const char *name; /* "storage.s3" */
    const char *doc;
};

extern const struct config_key config__keys[];
extern const size_t config__nkeys;
extern const struct config_section_doc config__sections[];
extern const size_t config__nsections;

/* Index of a key by name, or -1. With alias_out, alias names match too and
 * *alias_out is set to the alias (NULL for the key's own name). */
long config__key_find(const char *name, const struct config_alias **alias_out);

/* Environment variable name of a dotted path: "ARC_" + upper-cased path with
 * '.' replaced by '_'. Writes at most n bytes (truncates). */
void config__env_name(const char *path, char *buf, size_t n);

/* Checks the table's own consistency (sections contiguous, env names
 * unique, every default valid). RC_OK or RC_INTERNAL with a message. */
int config__table_check(struct errbuf *eb) MUST_CHECK;

#endif
