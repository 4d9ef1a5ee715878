/* API bearer tokens: created with a scope (read or admin), shown once, kept
 * only as a BLAKE2b hash in the system bucket (C360_META_BUCKET, key
 * "token::ID"), checked by the HTTP server's auth hook.
 *
 * A token reads "c360_<ID>_<SECRET>": ID is 8 hex digits (the document key and
 * what `token list|revoke` show), SECRET 43 characters of base64url (256 bits
 * from libsodium's randombytes). Because the secret is high-entropy a fast
 * keyed hash is enough (no password stretching): the document holds
 * crypto_generichash(token) in hex and the check is constant-time.
 *
 * Policy (c360_tokens_auth): once one token exists every READ route needs a
 * read or admin token and every ADMIN route an admin token. When the store
 * holds no token (none created yet, or the last one revoked) the API is open
 * only when "required" is off, which c360_api_routes allows only for a
 * loopback bind address without --auth; a server bound beyond loopback
 * refuses every READ/ADMIN call (401) then, and its start-up needs a token
 * (c360_api_check_exposure). Tokens are re-read when the system bucket
 * changes (its high seqno is checked at most every 200 ms, by the request
 * that finds the check due), so `token create|revoke` from any process apply
 * to a running server within about 200 ms. If the tokens cannot be re-read,
 * the previous set stays in force (never an open API). */
#ifndef C360_SERVE_TOKEN_H
#define C360_SERVE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"
#include "serve/http.h"
#include "store/store.h"

#define C360_TOKEN_MAX 64      /* characters of a token, NUL excluded */
#define C360_TOKEN_NAME_MAX 64

struct c360_token_info {
	char id[9];
	char name[C360_TOKEN_NAME_MAX + 1];
	enum c360_http_scope scope; /* READ or ADMIN */
	int64_t created;            /* Unix time */
};

/* Creates a token; writes it (NUL-terminated) into token[C360_TOKEN_MAX + 1]
 * and fills *info (optional). name may be NULL. */
c360_rc c360_token_create(c360_store *st, enum c360_http_scope scope, const char *name,
			  char *token, struct c360_token_info *info, char *err, size_t errlen);
/* Lists tokens, sorted by creation time: *out is malloc'd (free() it). */
c360_rc c360_token_list(c360_store *st, struct c360_token_info **out, size_t *n);
/* Deletes token ID (C360_ERR_NOT_FOUND when absent). */
c360_rc c360_token_revoke(c360_store *st, const char *id);

/* A cache of the store's tokens for the HTTP auth hook. Thread-safe. */
typedef struct c360_tokens c360_tokens;
c360_tokens *c360_tokens_new(c360_store *st); /* st is borrowed */
void c360_tokens_free(c360_tokens *t);        /* accepts NULL */
/* With required set, an empty store denies every READ/ADMIN call instead of
 * opening the API (serve --auth). */
void c360_tokens_set_required(c360_tokens *t, bool required);
/* Number of tokens in the store (refreshing the cache when due). */
size_t c360_tokens_count(c360_tokens *t);
/* The c360_http_auth_fn: pass the c360_tokens as ctx. */
int c360_tokens_auth(const char *token, void *ctx);

#endif
