/* Internal: the compiled mapping shared by mapping.c (parser) and merge.c
 * (extraction, state, build). Not for other modules. */
#ifndef C360_INTEGRATE_IMAP_INT_H
#define C360_INTEGRATE_IMAP_INT_H

#include <errno.h>

#include "core/json.h"
#include "core/opts.h"
#include "core/yaml.h"
#include "integrate/integrate.h"

#define C360_IMAP_FILE_MAX (1u << 20)

enum imap_xop { X_PTR, X_LIT, X_CONCAT, X_JOIN, X_TRIM, X_LOWER, X_UPPER, X_NUMBER, X_STRING,
	       X_NONEMPTY };

struct imap_expr {
	enum imap_xop op;
	char *ptr;             /* X_PTR */
	const c360_json *lit;  /* X_LIT: borrowed from the mapping's YAML doc; X_JOIN: sep */
	struct imap_expr **args;
	size_t nargs;
};

enum imap_pop { P_EQ, P_NE, P_PRESENT, P_ABSENT, P_TRUTHY };

struct imap_pred {
	char *ptr;
	enum imap_pop op;
	const c360_json *val; /* P_EQ / P_NE, in the YAML doc */
};

enum imap_rule { R_MOST_RECENT = 0, R_PRIORITY };

struct imap_field {
	char *name;   /* dot path "profile.address1" */
	enum imap_rule rule;
	int *prio;    /* source indices, best first */
	size_t nprio;
};

struct imap_map {
	int field;
	struct imap_expr *e;
};

enum imap_ts { TS_NONE = 0, TS_POINTER, TS_CAS, TS_FETCH };
enum imap_unit { U_S, U_MS, U_US, U_NS, U_ISO };

struct imap_source {
	char *system;
	char **roots;          /* candidate document roots, "" = the document itself */
	size_t nroots;
	struct imap_pred *match;
	size_t nmatch;
	struct imap_pred *del_when;
	size_t ndel;
	struct imap_expr *identity, *del_identity, *ext_id, *del_ext_id, *secret;
	enum imap_ts ts_kind;
	char *ts_ptr;
	enum imap_unit ts_unit;
	struct imap_map *maps;
	size_t nmaps;
	/* online store */
	bool online;
	char *url;
	int64_t refresh_s;
};

/* A piece of the customer document's constant text: tx.b.data[off, off+len). */
struct imap_piece {
	size_t off, len;
};

/* A member of the profile fields' object tree: fields "a.b" and "a.c" share
 * the node of "a". */
struct imap_node {
	struct imap_piece key; /* "\"b\":" */
	int parent;            /* node index, -1 = the document */
	int field;             /* the field it holds, -1 for an object */
	const char *name;      /* a field's name whose prefix of plen bytes (up to */
	size_t plen;           /* this segment's end) is the node's path */
};

/* The customer document's constant text (member names, escaped; the xref and
 * lineage members around them), written once by c360_imap_check_layout so
 * c360_imap_build_text copies it instead of escaping names per customer. */
struct imap_text {
	struct c360_buf b;          /* every piece's bytes */
	struct imap_piece head;     /* "{" and the constant members */
	bool head_members;          /* head holds members (a comma before the next) */
	struct imap_piece xrefs;    /* "\"xrefs\":[" */
	struct imap_piece lineage;  /* "\"lineage\":{" */
	struct imap_piece id, secret, email, ts; /* ",\"external_ID\":" … ",\"ts\":" */
	struct imap_piece *xref;    /* per source: "{\"external_system\":\"SYS\"" */
	struct imap_piece *system;  /* per source: "\"SYS\"" */
	struct imap_piece *lin;     /* per field: "\"profile.name\":{\"system\":" */
	size_t *name_len;           /* per field */
	int *leaf;                  /* per field: its node */
	struct imap_node *nodes;
	size_t nnodes;
};

struct c360_imap {
	struct c360_yaml *y;
	char source_bucket[C360_BUCKET_NAME_MAX + 1];
	char target_bucket[C360_BUCKET_NAME_MAX + 1];
	char metadata_bucket[C360_BUCKET_NAME_MAX + 1];
	const c360_json *constants; /* "document:" members, or NULL */
	char xref_field[64], xref_system[64], xref_id[64], xref_secret[64], xref_email[64];
	char lineage_field[64];     /* "" = no lineage */
	enum c360_imap_secrets secrets;
	char *secret_key;           /* from the file (discouraged) */
	char *secret_key_env;       /* NULL = C360_SECRET_KEY */
	enum imap_rule default_rule;
	struct imap_source *sources;
	size_t nsources;
	struct imap_field *fields;
	size_t nfields;
	int online;                 /* source index or -1 */
	char order_prefix[72];
	/* the members of a staging document's root that any source reads (the
	 * first segment of every pointer, from the document itself); NULL when
	 * one reads the whole document: c360_json_parse_opts.keep */
	char **keep;
	size_t nkeep;
	bool text_build;            /* member names never collide: documents can be
				     * written without building them (merge.c) */
	struct imap_text tx;        /* with text_build */
};

/* Sets m->text_build and, with it, m->tx (merge.c). */
void c360_imap_check_layout(c360_imap *m);
/* Frees m->tx (merge.c). */
void c360_imap_text_release(c360_imap *m);

#endif
